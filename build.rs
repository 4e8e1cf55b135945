//! Build script: compiles the vendored PocketSphinx (the offline speech recognizer, see
//! `build/pocketsphinx.rs`), and records the git commit phonetree is built from, for `phonetree --version` and
//! the start-up log (`PHONETREE_GIT_HASH`, 12 hex digits). Uncommitted changes are not flagged:
//! the script reruns only when the commit changes, so such a flag would go stale.
//!
//! `PHONETREE_INTEROP=1` at build time sets `cfg(interop)`: the interop tests (real SIP peers,
//! `tests/interop.rs`) are `#[cfg_attr(not(interop), ignore = "...")]`, so a plain `cargo test`
//! lists them as *ignored* with the reason and the variable, instead of passing them unrun.
//!
//! Tolerant by design: without git, outside a checkout (a source tarball, `cargo install` from a
//! registry) or when git fails, the hash is `unknown` and the build goes on.

use std::process::Command;

#[path = "build/pocketsphinx.rs"]
mod pocketsphinx;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    pocketsphinx::build();
    let text = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PHONETREE_GIT_HASH={text}");
    // Rebuild when the commit changes: HEAD itself, the branch it points at, packed refs.
    // A path that does not exist (no `packed-refs` until git packs refs) would make cargo rerun
    // this script, and rebuild the crate, on every build.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            if std::path::Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(interop)");
    println!("cargo:rerun-if-env-changed=PHONETREE_INTEROP");
    if std::env::var("PHONETREE_INTEROP").is_ok_and(|v| v == "1") {
        println!("cargo:rustc-cfg=interop");
    }
}
