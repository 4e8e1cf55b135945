//! `phonetree import siptunes SOUND_DIR`: a siptunes `sound/` folder as an equivalent flow.
//!
//! siptunes (github.com/ky0uma/siptunes) keeps one `dtmf_map_<theme>.json` per character theme in
//! its sound folder: a JSON object from a DTMF key to a sound file (or a stream URL), whose
//! `"default"` entry is the greeting. Files sit in `<dir>/<theme>/` (or `<dir>/`). A call starts
//! in the first theme (the `THEMES` order, else sorted), plays its greeting, plays the mapped file
//! for a key, goes back to the greeting when a file ends, and `*` / `#` step to the previous / next
//! theme (wrapping) and play its greeting.
//!
//! The flow keeps all of that: themes, `*`/`#` global keys that switch theme and go to `greet`,
//! a gather whose routes play the mapped files and return to the greeting. When every theme has
//! the same map (the usual layout) one gather serves them all and prompts resolve per theme; when
//! maps differ, `greet` switches on `theme` to one gather per theme, and files in a theme folder
//! are written `<theme>/<file>` so they resolve whatever the current theme is.
//!
//! Reading the folder is the only I/O ([`read`]); [`emit`] is pure. Malformed JSON is an error
//! naming the file; keys that cannot be honoured are warnings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::{list, map, quote};
use crate::flow::digit::Digit;

/// How long the gather waits after the greeting, and how often the greeting is replayed before
/// the call ends (siptunes loops the greeting forever; a phone system should not).
const WAIT: &str = "10s";
const TRIES: u8 = 6;

/// What to import and how to name it.
#[derive(Debug, Clone)]
pub struct Options {
    /// The flow's `name:`.
    pub name: String,
    /// Theme order (siptunes' `THEMES`); `None` = every map found, sorted by theme name.
    pub themes: Option<Vec<String>>,
}

/// The result: flow YAML plus what could not be carried over.
#[derive(Debug)]
pub struct Imported {
    pub yaml: String,
    pub warnings: Vec<Warning>,
}

/// A siptunes sound folder, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Siptunes {
    pub dir: PathBuf,
    /// In call order; never empty.
    pub themes: Vec<ThemeMap>,
}

/// One `dtmf_map_<theme>.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeMap {
    pub theme: String,
    pub greeting: Sound,
    /// Keys in RFC 4733 order (`0-9`, then `A-D`); `*` and `#` are taken by theme switching.
    pub keys: Vec<(Digit, Sound)>,
}

/// A mapped file as written in the JSON, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sound {
    pub name: String,
    pub place: Place,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `<dir>/<theme>/<name>`.
    ThemeDir,
    /// `<dir>/<name>`.
    SharedDir,
    /// A URL, streamed.
    Remote,
    /// Nowhere (a warning was recorded).
    Missing,
}

/// Why a folder could not be imported.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No `dtmf_map_<theme>.json` in the folder.
    NoMaps {
        dir: PathBuf,
    },
    /// `--themes` names a theme without a map.
    UnknownTheme {
        theme: String,
        dir: PathBuf,
    },
    /// A theme name phonetree cannot use as a folder/theme name.
    BadThemeName {
        theme: String,
        path: PathBuf,
    },
    BadJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    NotAnObject {
        path: PathBuf,
    },
    /// A value that is not a string.
    BadValue {
        path: PathBuf,
        key: String,
    },
    /// No `"default"` (greeting) entry.
    NoDefault {
        path: PathBuf,
    },
}

/// Something the flow does not carry over, or that will not play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A key that is not a single DTMF key, or that theme switching takes.
    SkippedKey {
        path: PathBuf,
        key: String,
        reason: &'static str,
    },
    /// A mapped file found neither in `<dir>/<theme>/` nor `<dir>/`.
    MissingFile { theme: String, file: String },
    /// A stream phonetree cannot play (only http:// and https:// are streamed).
    UnsupportedUrl { theme: String, url: String },
    /// A map left out because `--themes` does not list it.
    UnusedMap { path: PathBuf },
}

/// Reads `dir` and emits the flow.
pub fn import(dir: &Path, opts: &Options) -> Result<Imported, ImportError> {
    let (set, mut warnings) = read(dir, opts.themes.as_deref())?;
    let yaml = emit(&set, &opts.name);
    warnings.sort_by_key(|w| w.to_string());
    Ok(Imported { yaml, warnings })
}

/// Reads every `dtmf_map_<theme>.json` in `dir` (or those `themes` lists, in that order).
pub fn read(
    dir: &Path,
    themes: Option<&[String]>,
) -> Result<(Siptunes, Vec<Warning>), ImportError> {
    let found = find_maps(dir)?;
    if found.is_empty() {
        return Err(ImportError::NoMaps {
            dir: dir.to_owned(),
        });
    }
    let mut warnings = Vec::new();
    let order: Vec<String> = match themes {
        Some(list) => {
            for (theme, path) in &found {
                if !list.contains(theme) {
                    warnings.push(Warning::UnusedMap { path: path.clone() });
                }
            }
            list.to_vec()
        }
        None => found.keys().cloned().collect(),
    };
    let mut maps = Vec::new();
    for theme in order {
        let path = found.get(&theme).ok_or_else(|| ImportError::UnknownTheme {
            theme: theme.clone(),
            dir: dir.to_owned(),
        })?;
        maps.push(read_map(dir, &theme, path, &mut warnings)?);
    }
    if maps.is_empty() {
        return Err(ImportError::NoMaps {
            dir: dir.to_owned(),
        });
    }
    Ok((
        Siptunes {
            dir: dir.to_owned(),
            themes: maps,
        },
        warnings,
    ))
}

/// Theme name to map file, sorted by theme.
fn find_maps(dir: &Path) -> Result<BTreeMap<String, PathBuf>, ImportError> {
    let io = |source| ImportError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some(theme) = name
            .strip_prefix("dtmf_map_")
            .and_then(|s| s.strip_suffix(".json"))
        else {
            continue;
        };
        if !theme.is_empty() {
            found.insert(theme.to_owned(), entry.path());
        }
    }
    Ok(found)
}

fn read_map(
    dir: &Path,
    theme: &str,
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<ThemeMap, ImportError> {
    if !valid_theme_name(theme) {
        return Err(ImportError::BadThemeName {
            theme: theme.to_owned(),
            path: path.to_owned(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ImportError::BadJson {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let serde_json::Value::Object(entries) = value else {
        return Err(ImportError::NotAnObject {
            path: path.to_owned(),
        });
    };
    let mut greeting = None;
    let mut keys = Vec::new();
    for (key, value) in &entries {
        let Some(file) = value.as_str().filter(|s| !s.is_empty()) else {
            return Err(ImportError::BadValue {
                path: path.to_owned(),
                key: key.clone(),
            });
        };
        let skip = |reason| Warning::SkippedKey {
            path: path.to_owned(),
            key: key.clone(),
            reason,
        };
        if key == "default" {
            greeting = Some(locate(dir, theme, file, warnings));
            continue;
        }
        let mut chars = key.chars();
        let digit = match (chars.next().and_then(Digit::from_char), chars.next()) {
            (Some(d), None) => d,
            _ => {
                warnings.push(skip("not a single DTMF key"));
                continue;
            }
        };
        if matches!(digit.as_char(), '*' | '#') {
            warnings.push(skip("`*` and `#` switch theme"));
            continue;
        }
        if keys.iter().any(|(d, _)| *d == digit) {
            warnings.push(skip("the same key appears twice"));
            continue;
        }
        keys.push((digit, locate(dir, theme, file, warnings)));
    }
    keys.sort_by_key(|(d, _)| *d);
    let greeting = greeting.ok_or_else(|| ImportError::NoDefault {
        path: path.to_owned(),
    })?;
    Ok(ThemeMap {
        theme: theme.to_owned(),
        greeting,
        keys,
    })
}

fn locate(dir: &Path, theme: &str, name: &str, warnings: &mut Vec<Warning>) -> Sound {
    let place = if let Some((scheme, _)) = name.split_once("://") {
        if !matches!(scheme, "http" | "https") {
            warnings.push(Warning::UnsupportedUrl {
                theme: theme.to_owned(),
                url: name.to_owned(),
            });
        }
        Place::Remote
    } else if dir.join(theme).join(name).is_file() {
        Place::ThemeDir
    } else if dir.join(name).is_file() {
        Place::SharedDir
    } else {
        warnings.push(Warning::MissingFile {
            theme: theme.to_owned(),
            file: name.to_owned(),
        });
        Place::Missing
    };
    Sound {
        name: name.to_owned(),
        place,
    }
}

/// Theme names become folder and node names: the flow schema's name pattern.
fn valid_theme_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The flow YAML for a read folder.
pub fn emit(set: &Siptunes, name: &str) -> String {
    let first = &set.themes[0];
    let uniform = set
        .themes
        .iter()
        .all(|t| t.greeting == first.greeting && t.keys == first.keys);
    let theme_names: Vec<&str> = set.themes.iter().map(|t| t.theme.as_str()).collect();
    let mut y = String::new();
    y.push_str("# yaml-language-server: $schema=../schema/flow.schema.json\n");
    y.push_str(&format!(
        "# Generated by `phonetree import siptunes {}`.\n",
        set.dir.display()
    ));
    y.push_str("# Prompts resolve under the sound folder: run with `--sound <that folder>` or copy it to sound/.\n");
    y.push_str(&format!(
        "# After the greeting the caller has {WAIT} to press a key; the greeting is replayed {TRIES} times.\n"
    ));
    y.push_str(&format!("name: {}\n\n", quote(name)));
    y.push_str("themes:\n");
    y.push_str(&format!("  list: {}\n", list(theme_names.iter().copied())));
    y.push_str(&format!("  start: {}\n\n", quote(&first.theme)));
    y.push_str("keys:\n");
    y.push_str("  \"#\": { theme: next, goto: greet }\n");
    y.push_str("  \"*\": { theme: prev, goto: greet }\n\n");
    y.push_str("start: greet\nnodes:\n");
    if uniform {
        gather(
            &mut y,
            "greet",
            first,
            |d| format!("key_{d}"),
            |s| s.name.clone(),
        );
        for (d, sound) in &first.keys {
            play(&mut y, &format!("key_{d}"), &sound.name);
        }
    } else {
        y.push_str("  greet:\n    switch:\n");
        let (last, rest) = set.themes.split_last().unwrap_or((first, &[]));
        for t in rest {
            let cond = format!("theme == \"{}\"", t.theme);
            y.push_str(&format!(
                "      - {{ when: {}, goto: {} }}\n",
                quote(&cond),
                quote(&format!("menu_{}", t.theme))
            ));
        }
        y.push_str(&format!(
            "      - {{ goto: {} }}\n",
            quote(&format!("menu_{}", last.theme))
        ));
        for t in &set.themes {
            let theme = t.theme.clone();
            let node = |d: Digit| format!("play_{}_{d}", theme);
            gather(&mut y, &format!("menu_{}", t.theme), t, node, |s| {
                qualified(&t.theme, s)
            });
            for (d, sound) in &t.keys {
                play(&mut y, &node(*d), &qualified(&t.theme, sound));
            }
        }
    }
    y.push_str("  end: { hangup: {} }\n");
    y
}

/// A file in a theme folder written so it resolves whatever the current theme is.
fn qualified(theme: &str, s: &Sound) -> String {
    match s.place {
        Place::ThemeDir => format!("{theme}/{}", s.name),
        Place::SharedDir | Place::Remote | Place::Missing => s.name.clone(),
    }
}

fn gather(
    y: &mut String,
    node: &str,
    t: &ThemeMap,
    target: impl Fn(Digit) -> String,
    prompt: impl Fn(&Sound) -> String,
) {
    let targets: Vec<(String, String)> = t
        .keys
        .iter()
        .map(|(d, _)| (d.to_string(), target(*d)))
        .collect();
    y.push_str(&format!("  {}:\n    gather:\n", quote(node)));
    y.push_str(&format!("      prompt: {}\n", quote(&prompt(&t.greeting))));
    y.push_str("      digits: { min: 1, max: 1 }\n");
    y.push_str(&format!("      timeout: {WAIT}\n      tries: {TRIES}\n"));
    if targets.is_empty() {
        // A gather needs somewhere to go: with no key mapped, any key replays the greeting.
        y.push_str("    next: greet\n");
    } else {
        y.push_str(&format!(
            "    routes: {}\n",
            map(targets.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        ));
    }
    y.push_str("    on_fail: end\n");
}

fn play(y: &mut String, node: &str, prompt: &str) {
    y.push_str(&format!(
        "  {}: {{ play: {}, next: greet }}\n",
        quote(node),
        quote(prompt)
    ));
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ImportError::NoMaps { dir } => write!(
                f,
                "{}: no dtmf_map_<theme>.json files (is this a siptunes sound/ folder?)",
                dir.display()
            ),
            ImportError::UnknownTheme { theme, dir } => write!(
                f,
                "{}: theme `{theme}` has no dtmf_map_{theme}.json",
                dir.display()
            ),
            ImportError::BadThemeName { theme, path } => write!(
                f,
                "{}: theme name `{theme}` may only use letters, digits, `_`, `.` and `-`",
                path.display()
            ),
            ImportError::BadJson {
                path,
                line,
                column,
                message,
            } => write!(
                f,
                "{}:{line}:{column}: invalid JSON: {message}",
                path.display()
            ),
            ImportError::NotAnObject { path } => write!(
                f,
                "{}: expected a JSON object of DTMF key to sound file",
                path.display()
            ),
            ImportError::BadValue { path, key } => write!(
                f,
                "{}: the value of \"{key}\" must be a sound file name or URL",
                path.display()
            ),
            ImportError::NoDefault { path } => {
                write!(f, "{}: no \"default\" entry (the greeting)", path.display())
            }
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::SkippedKey { path, key, reason } => {
                write!(f, "{}: key \"{key}\" skipped: {reason}", path.display())
            }
            Warning::MissingFile { theme, file } => {
                write!(f, "theme `{theme}`: `{file}` not found in the folder")
            }
            Warning::UnsupportedUrl { theme, url } => write!(
                f,
                "theme `{theme}`: `{url}` is not an http(s) stream; phonetree cannot play it"
            ),
            Warning::UnusedMap { path } => {
                write!(f, "{}: not in --themes, left out", path.display())
            }
        }
    }
}

#[cfg(test)]
mod tests;
