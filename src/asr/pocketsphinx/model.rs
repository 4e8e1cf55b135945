//! Where the PocketSphinx model is, and its pronunciation dictionary's word list.
//!
//! The model is not vendored: the registry package `pocketsphinx` 5.1.1 (PyPI) carries the
//! US-English one in its wheel at `pocketsphinx/model/en-us/` (an acoustic model directory
//! `en-us/`, `cmudict-en-us.dict`, `en-us.lm.bin`). `asr.pocketsphinx.model` names such a
//! directory; without it [`discover`] looks where `pip install pocketsphinx` puts it (the
//! active virtualenv, the test peers' venv, user and system site-packages).
//!
//! The dictionary's words are read once ([`Model::has_word`]) so a grammar can leave out words
//! the recognizer cannot say (PocketSphinx refuses a grammar with an unknown word).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// A model directory, checked.
#[derive(Debug)]
pub struct Model {
    pub dir: PathBuf,
    /// Acoustic model directory (has `mdef`).
    pub hmm: PathBuf,
    /// Pronunciation dictionary.
    pub dict: PathBuf,
    /// n-gram language model (binary).
    pub lm: PathBuf,
    words: HashSet<String>,
}

/// Why a model directory cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// Nothing configured and nothing found where pip installs the model.
    NotFound,
    /// The directory lacks a part (named).
    Missing {
        dir: PathBuf,
        what: &'static str,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::NotFound => write!(
                f,
                "no PocketSphinx model found (pip install pocketsphinx==5.1.1, or set asr.pocketsphinx.model)"
            ),
            ModelError::Missing { dir, what } => {
                write!(f, "{} has no {what}", dir.display())
            }
            ModelError::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for ModelError {}

/// Files an acoustic model directory must have (PocketSphinx exits the process on some broken
/// model files, so a missing one is caught here, before `ps_init`).
const HMM_FILES: [&str; 6] = [
    "mdef",
    "means",
    "variances",
    "transition_matrices",
    "feat.params",
    "noisedict",
];

impl Model {
    /// Checks `dir` and reads its dictionary's word list.
    pub fn open(dir: &Path) -> Result<Model, ModelError> {
        let entries = read_dir(dir)?;
        let missing = |what| ModelError::Missing {
            dir: dir.to_path_buf(),
            what,
        };
        let hmm = entries
            .iter()
            .find(|p| p.is_dir() && p.join("mdef").is_file())
            .cloned()
            .ok_or_else(|| missing("acoustic model directory (with mdef)"))?;
        for f in HMM_FILES {
            if !hmm.join(f).is_file() {
                return Err(ModelError::Missing {
                    dir: hmm.clone(),
                    what: f,
                });
            }
        }
        if !hmm.join("sendump").is_file() && !hmm.join("mixture_weights").is_file() {
            return Err(ModelError::Missing {
                dir: hmm.clone(),
                what: "sendump or mixture_weights",
            });
        }
        let dict = pick(&entries, |n| n.ends_with(".dict")).ok_or_else(|| missing("*.dict"))?;
        let lm = pick(&entries, |n| {
            (n.ends_with(".lm.bin") || n.ends_with(".lm") || n.ends_with(".arpa"))
                && !n.contains("phone")
        })
        .ok_or_else(|| missing("language model (*.lm.bin)"))?;
        let text = std::fs::read_to_string(&dict).map_err(|e| ModelError::Unreadable {
            path: dict.clone(),
            error: e.to_string(),
        })?;
        Ok(Model {
            dir: dir.to_path_buf(),
            hmm,
            dict,
            lm,
            words: dictionary_words(&text),
        })
    }

    /// Whether the dictionary can say `word` (lower case).
    pub fn has_word(&self, word: &str) -> bool {
        self.words.contains(word)
    }
}

/// The configured directory, else the first place pip puts the model that exists.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, ModelError> {
    if let Some(dir) = configured {
        return Ok(dir.to_path_buf());
    }
    discover().ok_or(ModelError::NotFound)
}

/// Looks for `pocketsphinx/model/en-us` in the site-packages of: `$VIRTUAL_ENV`,
/// `$PHONETREE_INTEROP_VENV` (default `/opt/phonetree-interop/venv`, what `.ci/install-deps.sh`
/// creates), `~/.local`, `/usr/local` and `/usr`.
pub fn discover() -> Option<PathBuf> {
    let mut prefixes: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        prefixes.push(v.into());
    }
    prefixes.push(
        std::env::var_os("PHONETREE_INTEROP_VENV")
            .map_or_else(|| "/opt/phonetree-interop/venv".into(), PathBuf::from),
    );
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(Path::new(&home).join(".local"));
    }
    prefixes.push("/usr/local".into());
    prefixes.push("/usr".into());
    for prefix in prefixes {
        let Ok(libs) = std::fs::read_dir(prefix.join("lib")) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = libs
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pythons.sort();
        for py in pythons.iter().rev() {
            for site in ["site-packages", "dist-packages"] {
                let dir = py.join(site).join("pocketsphinx/model/en-us");
                if dir.join("en-us/mdef").is_file() {
                    return Some(dir);
                }
            }
        }
    }
    None
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ModelError::Unreadable {
        path: dir.to_path_buf(),
        error: e.to_string(),
    })?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn pick(entries: &[PathBuf], want: impl Fn(&str) -> bool) -> Option<PathBuf> {
    entries
        .iter()
        .find(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&want))
        .cloned()
}

/// Words of a CMU-format dictionary (`word PH ON ES`, variants as `word(2) ...`).
fn dictionary_words(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| !w.starts_with(";;;"))
        .map(|w| match w.find('(') {
            Some(i) if w.ends_with(')') => w[..i].to_owned(),
            _ => w.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_words_fold_variants() {
        let w = dictionary_words("yes Y EH S\nyes(2) Y AH S\nno N OW\n;;; comment\n\n");
        assert!(w.contains("yes") && w.contains("no"));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn a_directory_without_a_model_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = Model::open(dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::Missing { .. }), "{err}");
        assert!(Model::open(&dir.path().join("nope")).is_err());
    }
}
