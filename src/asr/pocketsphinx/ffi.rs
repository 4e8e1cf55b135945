//! The few PocketSphinx 5 C functions phonetree calls (declarations from
//! `vendor/pocketsphinx/include/pocketsphinx.h` and `pocketsphinx/search.h`, `pocketsphinx/err.h`).
//!
//! Written by hand rather than with bindgen: a dozen functions over opaque pointers do not justify
//! a libclang build dependency. Only [`super::decoder`] calls these.

use std::os::raw::{c_char, c_int, c_long};

/// `ps_config_t` (opaque).
#[repr(C)]
pub struct PsConfig {
    _private: [u8; 0],
}

/// `ps_decoder_t` (opaque).
#[repr(C)]
pub struct PsDecoder {
    _private: [u8; 0],
}

/// `err_lvl_t`: `ERR_ERROR` keeps PocketSphinx quiet except for real errors.
pub const ERR_ERROR: c_int = 3;

extern "C" {
    pub fn ps_config_init(defn: *const std::ffi::c_void) -> *mut PsConfig;
    pub fn ps_config_free(config: *mut PsConfig) -> c_int;
    pub fn ps_config_set_str(
        config: *mut PsConfig,
        name: *const c_char,
        val: *const c_char,
    ) -> *const std::ffi::c_void;
    pub fn ps_config_set_int(
        config: *mut PsConfig,
        name: *const c_char,
        val: c_long,
    ) -> *const std::ffi::c_void;
    pub fn ps_config_set_float(
        config: *mut PsConfig,
        name: *const c_char,
        val: f64,
    ) -> *const std::ffi::c_void;
    pub fn ps_init(config: *mut PsConfig) -> *mut PsDecoder;
    pub fn ps_get_config(ps: *mut PsDecoder) -> *mut PsConfig;
    pub fn ps_free(ps: *mut PsDecoder) -> c_int;
    pub fn ps_reinit_feat(ps: *mut PsDecoder, config: *mut PsConfig) -> c_int;
    pub fn ps_start_utt(ps: *mut PsDecoder) -> c_int;
    pub fn ps_process_raw(
        ps: *mut PsDecoder,
        data: *const i16,
        n_samples: usize,
        no_search: c_int,
        full_utt: c_int,
    ) -> c_int;
    pub fn ps_end_utt(ps: *mut PsDecoder) -> c_int;
    pub fn ps_get_cmn(ps: *mut PsDecoder, update: c_int) -> *const c_char;
    pub fn ps_set_cmn(ps: *mut PsDecoder, cmn: *const c_char) -> c_int;
    pub fn ps_get_hyp(ps: *mut PsDecoder, out_best_score: *mut i32) -> *const c_char;
    pub fn ps_add_jsgf_string(
        ps: *mut PsDecoder,
        name: *const c_char,
        jsgf_string: *const c_char,
    ) -> c_int;
    pub fn ps_activate_search(ps: *mut PsDecoder, name: *const c_char) -> c_int;
    pub fn ps_remove_search(ps: *mut PsDecoder, name: *const c_char) -> c_int;
    pub fn err_set_loglevel(lvl: c_int) -> c_int;
}
