//! A safe wrapper over one PocketSphinx decoder: load a model, pick the language model or a
//! grammar, feed 16 kHz PCM, read the hypothesis.
//!
//! A [`Decoder`] is `Send` but not `Sync`: it lives on one recognizer thread at a time
//! ([`super::pool`]). It owns its C object and frees it on drop. Grammars are added as named
//! JSGF searches and kept (a menu's grammar is reused by every caller on that node); at most
//! [`MAX_SEARCHES`] are kept, the oldest removed first.
//!
//! Not owned here: where the model is ([`super::model`]), which grammar a node gets
//! ([`crate::asr::grammar`]), threads and sessions ([`super::pool`]).

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::c_int;
use std::ptr::NonNull;

use super::ffi;
use super::model::Model;
use crate::asr::grammar::Grammar;

/// Grammar searches kept per decoder.
const MAX_SEARCHES: usize = 32;
/// Name of PocketSphinx's n-gram search (the `lm` configuration creates it).
const LM_SEARCH: &CStr = c"_default";
/// Word insertion penalty: PocketSphinx's default, and the one a digits grammar is built with.
/// A digit loop with the default inserts short words ("one two eight three four"); measured on
/// the benchmark set, 0.05 takes Piper digit strings from 16/18 to 18/18 right.
const WIP: f64 = 0.65;
const DIGITS_WIP: f64 = 0.05;

/// Why a decoder could not be built or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecoderError {
    /// `ps_init` failed (a model file is missing or unreadable).
    Init,
    /// The grammar could not be compiled (a word missing from the dictionary, bad syntax).
    Grammar(String),
    /// The decoder refused audio or an utterance boundary.
    Decode(&'static str),
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecoderError::Init => write!(f, "cannot load the PocketSphinx model"),
            DecoderError::Grammar(g) => write!(f, "cannot use grammar {g}"),
            DecoderError::Decode(what) => write!(f, "PocketSphinx {what} failed"),
        }
    }
}

impl std::error::Error for DecoderError {}

/// One PocketSphinx decoder.
pub struct Decoder {
    ps: NonNull<ffi::PsDecoder>,
    /// Grammar searches added, oldest first (names are grammar keys).
    searches: Vec<String>,
    active: Option<String>,
    in_utt: bool,
    lm: bool,
}

// SAFETY: a ps_decoder_t has no thread affinity; it is used by one thread at a time because
// `Decoder` is not `Sync` and every method takes `&mut self` or `&self` on the owning thread.
unsafe impl Send for Decoder {}

impl Decoder {
    /// Loads the acoustic model and dictionary; with `lm`, also the n-gram language model
    /// (needed for free speech; grammar-only decoders skip its load).
    pub fn new(model: &Model, lm: bool) -> Result<Decoder, DecoderError> {
        quiet();
        let hmm = cstring(&model.hmm)?;
        let dict = cstring(&model.dict)?;
        let lm_path = cstring(&model.lm)?;
        // SAFETY: the config is created, filled with valid NUL-terminated strings and freed
        // here; ps_init keeps its own reference.
        unsafe {
            let config = ffi::ps_config_init(std::ptr::null());
            if config.is_null() {
                return Err(DecoderError::Init);
            }
            ffi::ps_config_set_str(config, c"hmm".as_ptr(), hmm.as_ptr());
            ffi::ps_config_set_str(config, c"dict".as_ptr(), dict.as_ptr());
            if lm {
                ffi::ps_config_set_str(config, c"lm".as_ptr(), lm_path.as_ptr());
            }
            ffi::ps_config_set_str(config, c"loglevel".as_ptr(), c"ERROR".as_ptr());
            ffi::ps_config_set_int(config, c"samprate".as_ptr(), 16_000);
            let ps = ffi::ps_init(config);
            ffi::ps_config_free(config);
            let ps = NonNull::new(ps).ok_or(DecoderError::Init)?;
            Ok(Decoder {
                ps,
                searches: Vec::new(),
                active: lm.then(String::new),
                in_utt: false,
                lm,
            })
        }
    }

    /// Whether the n-gram language model is loaded (free speech possible).
    pub fn has_lm(&self) -> bool {
        self.lm
    }

    /// Selects what the next utterance is matched against: the grammar, or (None) the n-gram
    /// language model.
    pub fn select(&mut self, grammar: Option<&Grammar>) -> Result<(), DecoderError> {
        self.end_quietly();
        let name = grammar.map_or_else(String::new, |g| g.key().to_owned());
        if self.active.as_deref() == Some(name.as_str()) {
            return Ok(());
        }
        let Some(grammar) = grammar else {
            // SAFETY: LM_SEARCH is a valid C string; the call fails cleanly without an LM.
            let rc = unsafe { ffi::ps_activate_search(self.ps.as_ptr(), LM_SEARCH.as_ptr()) };
            if rc < 0 {
                return Err(DecoderError::Decode("selecting the language model"));
            }
            self.active = Some(name);
            return Ok(());
        };
        let c_name =
            CString::new(name.as_str()).map_err(|_| DecoderError::Grammar(name.clone()))?;
        if !self.searches.contains(&name) {
            let jsgf =
                CString::new(grammar.jsgf()).map_err(|_| DecoderError::Grammar(name.clone()))?;
            // SAFETY: valid C strings; PocketSphinx copies what it keeps. The search reads the
            // word insertion penalty from the decoder's configuration when it is built.
            let rc = unsafe {
                let config = ffi::ps_get_config(self.ps.as_ptr());
                let wip = if grammar.is_digits() { DIGITS_WIP } else { WIP };
                ffi::ps_config_set_float(config, c"wip".as_ptr(), wip);
                let rc = ffi::ps_add_jsgf_string(self.ps.as_ptr(), c_name.as_ptr(), jsgf.as_ptr());
                ffi::ps_config_set_float(config, c"wip".as_ptr(), WIP);
                rc
            };
            if rc < 0 {
                return Err(DecoderError::Grammar(grammar.describe()));
            }
            self.searches.push(name.clone());
            if self.searches.len() > MAX_SEARCHES {
                let old = self.searches.remove(0);
                if let Ok(old) = CString::new(old) {
                    // SAFETY: removing a search that is not active (the new one is not yet
                    // active, but it was added after `old`, so `old` is not it).
                    unsafe { ffi::ps_remove_search(self.ps.as_ptr(), old.as_ptr()) };
                }
            }
        }
        // SAFETY: the search was added above (or earlier).
        let rc = unsafe { ffi::ps_activate_search(self.ps.as_ptr(), c_name.as_ptr()) };
        if rc < 0 {
            return Err(DecoderError::Grammar(grammar.describe()));
        }
        self.active = Some(name);
        Ok(())
    }

    /// Starts an utterance from a clean front end: the noise estimate and the cepstral mean
    /// are reset to the model's, so a result never depends on what earlier callers said.
    pub fn start(&mut self) -> Result<(), DecoderError> {
        self.end_quietly();
        // SAFETY: a valid decoder; NULL keeps its configuration.
        if unsafe { ffi::ps_reinit_feat(self.ps.as_ptr(), std::ptr::null_mut()) } < 0 {
            return Err(DecoderError::Decode("resetting the front end"));
        }
        // SAFETY: a valid decoder.
        if unsafe { ffi::ps_start_utt(self.ps.as_ptr()) } < 0 {
            return Err(DecoderError::Decode("starting an utterance"));
        }
        self.in_utt = true;
        Ok(())
    }

    /// Decodes 16 kHz 16-bit PCM (starts an utterance if none is open).
    pub fn process(&mut self, pcm: &[i16]) -> Result<(), DecoderError> {
        if !self.in_utt {
            self.start()?;
        }
        if pcm.is_empty() {
            return Ok(());
        }
        // SAFETY: the pointer and length describe `pcm`, which outlives the call.
        let rc = unsafe { ffi::ps_process_raw(self.ps.as_ptr(), pcm.as_ptr(), pcm.len(), 0, 0) };
        if rc < 0 {
            return Err(DecoderError::Decode("decoding"));
        }
        Ok(())
    }

    /// Decodes a whole utterance at once (batch cepstral mean over all of it).
    pub fn process_whole(&mut self, pcm: &[i16]) -> Result<(), DecoderError> {
        if !self.in_utt {
            self.start()?;
        }
        // SAFETY: the pointer and length describe `pcm`, which outlives the call.
        let rc = unsafe { ffi::ps_process_raw(self.ps.as_ptr(), pcm.as_ptr(), pcm.len(), 0, 1) };
        if rc < 0 {
            return Err(DecoderError::Decode("decoding"));
        }
        Ok(())
    }

    /// The cepstral mean in use (`update`: refresh it from the audio so far).
    pub fn cmn(&mut self, update: bool) -> String {
        // SAFETY: the string belongs to the decoder and is copied at once.
        let p = unsafe { ffi::ps_get_cmn(self.ps.as_ptr(), c_int::from(update)) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// Sets the cepstral mean the next utterance starts from.
    pub fn set_cmn(&mut self, cmn: &str) -> Result<(), DecoderError> {
        let c = CString::new(cmn).map_err(|_| DecoderError::Decode("setting the cepstral mean"))?;
        // SAFETY: a valid C string; copied by PocketSphinx.
        if unsafe { ffi::ps_set_cmn(self.ps.as_ptr(), c.as_ptr()) } < 0 {
            return Err(DecoderError::Decode("setting the cepstral mean"));
        }
        Ok(())
    }

    /// The current best hypothesis (partial during an utterance), `None` when empty.
    pub fn hypothesis(&self) -> Option<String> {
        let mut score = 0i32;
        // SAFETY: the returned string belongs to the decoder and is copied before any other
        // call on it.
        let hyp = unsafe { ffi::ps_get_hyp(self.ps.as_ptr(), &mut score) };
        if hyp.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, owned by the decoder until the next call.
        let text = unsafe { CStr::from_ptr(hyp) }
            .to_string_lossy()
            .trim()
            .to_owned();
        (!text.is_empty()).then_some(text)
    }

    /// Ends the utterance and returns the final hypothesis.
    pub fn finish(&mut self) -> Result<Option<String>, DecoderError> {
        if !self.in_utt {
            return Ok(None);
        }
        self.in_utt = false;
        // SAFETY: an utterance is open.
        if unsafe { ffi::ps_end_utt(self.ps.as_ptr()) } < 0 {
            return Err(DecoderError::Decode("ending an utterance"));
        }
        Ok(self.hypothesis())
    }

    fn end_quietly(&mut self) {
        if self.in_utt {
            self.in_utt = false;
            // SAFETY: an utterance is open; its result is abandoned.
            unsafe { ffi::ps_end_utt(self.ps.as_ptr()) };
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the decoder was created by ps_init and is freed once.
        unsafe { ffi::ps_free(self.ps.as_ptr()) };
    }
}

/// Logs only errors (PocketSphinx logs every model file it reads at INFO).
fn quiet() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sets a global log level; called once.
    ONCE.call_once(|| unsafe {
        ffi::err_set_loglevel(ffi::ERR_ERROR);
    });
}

fn cstring(path: &std::path::Path) -> Result<CString, DecoderError> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| DecoderError::Init)
}
