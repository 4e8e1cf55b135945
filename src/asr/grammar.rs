//! Grammars for speech menus: the phrases a `listen` node accepts, derived from its routes.
//!
//! A `listen` whose routes are plain words or phrases (`yes|yeah`, `billing`, `technical
//! support`) and that has no `next` (so nothing else would be used) gets a [`Grammar`] of those
//! phrases: the recognizer then chooses among them instead of among every English word, which
//! is what makes classic speech menus accurate. A route that is a real pattern (`.*balance.*`,
//! `\d+`) means free speech, so the node gets no grammar and the engine's full language model.
//!
//! `listen.grammar: digits` asks for a spoken number instead: any sequence of digit words
//! ("four one one", "oh"), turned into digits ("411") in the transcript ([`Grammar::transcript`]).
//!
//! Engines use it their way: PocketSphinx as a JSGF grammar ([`Grammar::jsgf`]), the Vosk
//! protocol as its `phrase_list`. Pure code: the compiler calls [`phrases_of_routes`].

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// The phrases a menu accepts, normalised (lower case, single spaces), deduplicated, in order;
/// or a digit string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    phrases: Vec<String>,
    digits: bool,
    key: String,
}

/// Spoken digits and their values ("oh" is zero in phone numbers).
const DIGITS: [(&str, char); 11] = [
    ("zero", '0'),
    ("oh", '0'),
    ("one", '1'),
    ("two", '2'),
    ("three", '3'),
    ("four", '4'),
    ("five", '5'),
    ("six", '6'),
    ("seven", '7'),
    ("eight", '8'),
    ("nine", '9'),
];

impl Grammar {
    /// `None` when no phrase is left after normalising.
    pub fn new<S: AsRef<str>>(phrases: impl IntoIterator<Item = S>) -> Option<Grammar> {
        let mut out: Vec<String> = Vec::new();
        for p in phrases {
            let p = normalise(p.as_ref());
            if !p.is_empty() && !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            return None;
        }
        let key = key_of(&out, "g");
        Some(Grammar {
            phrases: out,
            digits: false,
            key,
        })
    }

    /// Any sequence of spoken digits.
    pub fn digits() -> Grammar {
        Grammar {
            phrases: DIGITS.iter().map(|(w, _)| (*w).to_owned()).collect(),
            digits: true,
            key: "digits".to_owned(),
        }
    }

    pub fn is_digits(&self) -> bool {
        self.digits
    }

    /// The transcript a flow sees: as recognised, or for a digits grammar the digits
    /// ("four one one" → "411"; words that are not digits are dropped).
    pub fn transcript(&self, text: &str) -> String {
        if !self.digits {
            return text.to_owned();
        }
        text.split_whitespace()
            .filter_map(|w| {
                let w = w.to_ascii_lowercase();
                DIGITS.iter().find(|(d, _)| *d == w).map(|(_, c)| *c)
            })
            .collect()
    }

    pub fn phrases(&self) -> &[String] {
        &self.phrases
    }

    /// A stable name for this set of phrases (decoders cache compiled grammars under it).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether `text` is a complete sentence of the grammar. PocketSphinx returns the best
    /// partial path when no path reached the grammar's end ("order" for "order status"); such a
    /// result is no answer.
    pub fn accepts(&self, text: &str) -> bool {
        let t = normalise(text);
        if self.digits {
            return !t.is_empty() && t.split(' ').all(|w| DIGITS.iter().any(|(d, _)| *d == w));
        }
        self.phrases.contains(&t)
    }

    /// Keeps the phrases whose every word `known` accepts (a recognizer cannot say a word its
    /// dictionary lacks); `None` when none is left.
    pub fn retain(&self, known: impl Fn(&str) -> bool) -> Option<Grammar> {
        if self.digits {
            return Some(self.clone());
        }
        Grammar::new(
            self.phrases
                .iter()
                .filter(|p| p.split(' ').all(&known))
                .map(String::as_str),
        )
    }

    /// The grammar in JSGF, one public rule of alternatives.
    pub fn jsgf(&self) -> String {
        if self.digits {
            return format!(
                "#JSGF V1.0;\ngrammar digits;\n<digit> = {};\npublic <digits> = <digit>+;\n",
                self.phrases.join(" | ")
            );
        }
        format!(
            "#JSGF V1.0;\ngrammar menu;\npublic <choice> = {};\n",
            self.phrases.join(" | ")
        )
    }

    /// For logs: the phrases, `yes | no | billing`.
    pub fn describe(&self) -> String {
        if self.digits {
            return "digits".to_owned();
        }
        self.phrases.join(" | ")
    }
}

fn key_of(phrases: &[String], prefix: &str) -> String {
    let mut h = Sha256::new();
    for p in phrases {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut key = String::from(prefix);
    for b in &digest[..8] {
        let _ = write!(key, "{b:02x}");
    }
    key
}

/// The phrases of a listen node's route patterns when every alternative of every pattern is
/// plain words (letters and apostrophes, optionally anchored with `^`/`$` or `\b`); `None` when
/// any pattern is a real regular expression, or there are none.
pub fn phrases_of_routes<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for pattern in patterns {
        for alt in split_alternatives(pattern)? {
            let alt = strip_anchors(alt);
            if !is_plain_phrase(alt) {
                return None;
            }
            out.push(normalise(alt));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Splits on top-level `|` inside an optional outer group `(..)`; `None` for nested groups.
fn split_alternatives(pattern: &str) -> Option<Vec<&str>> {
    let mut p = pattern.trim();
    if let Some(inner) = p
        .strip_prefix("^(")
        .and_then(|s| s.strip_suffix(")$"))
        .or_else(|| p.strip_prefix('(').and_then(|s| s.strip_suffix(')')))
    {
        p = inner;
    }
    if p.contains(['(', ')']) {
        return None;
    }
    Some(p.split('|').collect())
}

fn strip_anchors(s: &str) -> &str {
    let mut s = s.trim();
    for prefix in ["^", "\\b"] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    for suffix in ["$", "\\b"] {
        s = s.strip_suffix(suffix).unwrap_or(s);
    }
    s.trim()
}

fn is_plain_phrase(s: &str) -> bool {
    !s.is_empty()
        && s.split_whitespace().all(|w| {
            w.chars().all(|c| c.is_ascii_alphabetic() || c == '\'')
                && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        })
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_word_routes_make_a_grammar() {
        let p = phrases_of_routes(["yes|Yeah|yep", "no|nope", "technical  support", "^billing$"]);
        assert_eq!(
            p.unwrap(),
            [
                "yes",
                "yeah",
                "yep",
                "no",
                "nope",
                "technical support",
                "billing"
            ]
        );
        let p = phrases_of_routes(["(sales|don't know)", "\\bagent\\b"]).unwrap();
        assert_eq!(p, ["sales", "don't know", "agent"]);
    }

    #[test]
    fn a_real_pattern_means_free_speech() {
        assert_eq!(phrases_of_routes(["yes", ".*balance.*"]), None);
        assert_eq!(phrases_of_routes(["\\d+"]), None);
        assert_eq!(phrases_of_routes(["(a|(b|c))"]), None);
        assert_eq!(phrases_of_routes(["yes|"]), None);
        assert_eq!(phrases_of_routes(["one|1"]), None);
        assert_eq!(phrases_of_routes(std::iter::empty()), None);
    }

    #[test]
    fn grammar_is_normalised_keyed_and_written_as_jsgf() {
        let g = Grammar::new(["Yes", "yes", " technical   support "]).unwrap();
        assert_eq!(g.phrases(), ["yes", "technical support"]);
        assert_eq!(
            g.key(),
            Grammar::new(["yes", "technical support"]).unwrap().key()
        );
        assert_ne!(g.key(), Grammar::new(["yes"]).unwrap().key());
        assert_eq!(
            g.jsgf(),
            "#JSGF V1.0;\ngrammar menu;\npublic <choice> = yes | technical support;\n"
        );
        assert!(Grammar::new(["", "  "]).is_none());
    }

    #[test]
    fn digits_grammar_turns_words_into_digits() {
        let g = Grammar::digits();
        assert!(g.is_digits());
        assert_eq!(g.transcript("four one one"), "411");
        assert_eq!(g.transcript("Oh Nine um two"), "092");
        assert_eq!(
            Grammar::new(["one"]).unwrap().transcript("one two"),
            "one two"
        );
        assert!(g.jsgf().contains("public <digits> = <digit>+;"));
        assert_eq!(g.retain(|_| false), Some(g.clone()));
    }

    #[test]
    fn accepts_only_whole_sentences() {
        let g = Grammar::new(["order status", "orders"]).unwrap();
        assert!(g.accepts("Order  Status"));
        assert!(!g.accepts("order"));
        assert!(Grammar::digits().accepts("one oh four"));
        assert!(!Grammar::digits().accepts("one for"));
        assert!(!Grammar::digits().accepts(""));
    }

    #[test]
    fn retain_drops_phrases_with_unknown_words() {
        let g = Grammar::new(["yes", "zorblax", "tech support"]).unwrap();
        let known = |w: &str| w != "zorblax";
        assert_eq!(g.retain(known).unwrap().phrases(), ["yes", "tech support"]);
        assert!(g.retain(|_| false).is_none());
    }
}
