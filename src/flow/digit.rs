//! DTMF digits: the sixteen keys of RFC 4733 events 0-15 (`0-9`, `*`, `#`, `A-D`).
//!
//! Owns parsing a key name from a flow and the compact [`DigitSet`]. Knows nothing about how a
//! digit arrives (RFC 4733, SIP INFO, in-band): that is the media engine's business.

use std::fmt;

/// One DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digit(u8);

impl Digit {
    /// All sixteen keys in RFC 4733 event order.
    pub const ALL: [char; 16] = [
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
    ];

    /// Parses a key; lowercase `a-d` are accepted.
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        Self::ALL
            .iter()
            .position(|&k| k == c)
            .map(|i| Digit(i as u8))
    }

    /// The RFC 4733 event code (0-15).
    pub fn event_code(self) -> u8 {
        self.0
    }

    /// From an RFC 4733 event code; `None` for codes that are not DTMF keys.
    pub fn from_event_code(code: u8) -> Option<Digit> {
        (code < 16).then_some(Digit(code))
    }

    pub fn as_char(self) -> char {
        Self::ALL[self.0 as usize]
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Parses a string of keys such as `"12#"`; `None` if any character is not a DTMF key.
pub fn parse_digits(s: &str) -> Option<Vec<Digit>> {
    s.chars().map(Digit::from_char).collect()
}

/// A set of keys as a 16-bit mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigitSet(u16);

impl DigitSet {
    pub fn contains(self, d: Digit) -> bool {
        self.0 & (1 << d.0) != 0
    }

    pub fn insert(&mut self, d: Digit) {
        self.0 |= 1 << d.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Digit> for DigitSet {
    fn from_iter<I: IntoIterator<Item = Digit>>(iter: I) -> Self {
        let mut s = DigitSet::default();
        for d in iter {
            s.insert(d);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_sixteen_keys_and_rejects_others() {
        for (i, c) in Digit::ALL.iter().enumerate() {
            let d = Digit::from_char(*c).unwrap();
            assert_eq!(d.event_code() as usize, i);
            assert_eq!(d.as_char(), *c);
        }
        assert_eq!(Digit::from_char('a'), Digit::from_char('A'));
        assert!(Digit::from_char('E').is_none());
        assert!(Digit::from_char('x').is_none());
        assert!(parse_digits("12#").is_some());
        assert!(parse_digits("1-2").is_none());
        assert!(Digit::from_event_code(16).is_none());
    }

    #[test]
    fn digit_set() {
        let s: DigitSet = parse_digits("*#").unwrap().into_iter().collect();
        assert!(s.contains(Digit::from_char('#').unwrap()));
        assert!(!s.contains(Digit::from_char('1').unwrap()));
    }
}
