//! Endpointing: when did the caller start talking, and when have they finished?
//!
//! A sans-IO machine over the VAD's 16 ms decisions, so its clock is the audio itself (tests
//! feed recorded audio and need no timers):
//! - **start**: at least [`START_VOTES`] of the last [`START_WINDOW`] frames are speech (a click
//!   or a cough of one or two frames is not a caller speaking);
//! - **end**: `silence` of continuous non-speech after a start, or `max_speech` since the start
//!   (a caller who never pauses, or steady noise the VAD takes for speech).
//!
//! The same machine ends a recording after `record.silence` (there speech is not required
//! first: a silent line ends it too, [`Endpointer::silence_since_start`]).

use std::time::Duration;

use super::vad::FRAME_MS;

/// Frames looked at to decide that speech started.
pub const START_WINDOW: usize = 10;
/// Speech frames among them needed (7 of 10 = 112 of 160 ms).
pub const START_VOTES: usize = 7;

/// What changed with the last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Speech began; it began `START_WINDOW` frames ago at most (callers keep a pre-roll).
    Started,
    /// The utterance is over (silence or the length limit).
    Ended(EndReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Silence,
    MaxSpeech,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Waiting,
    Speaking { frames: u64, silent: u64 },
    Done,
}

/// One utterance's endpointing.
#[derive(Debug, Clone)]
pub struct Endpointer {
    silence_frames: u64,
    max_frames: u64,
    window: [bool; START_WINDOW],
    seen: u64,
    /// Non-speech frames in a row (any state).
    quiet_run: u64,
    state: State,
}

impl Endpointer {
    pub fn new(silence: Duration, max_speech: Duration) -> Endpointer {
        Endpointer {
            silence_frames: frames(silence).max(1),
            max_frames: frames(max_speech).max(1),
            window: [false; START_WINDOW],
            seen: 0,
            quiet_run: 0,
            state: State::Waiting,
        }
    }

    /// One VAD decision.
    pub fn push(&mut self, speech: bool) -> Option<Edge> {
        self.window[(self.seen % START_WINDOW as u64) as usize] = speech;
        self.seen += 1;
        self.quiet_run = if speech { 0 } else { self.quiet_run + 1 };
        match &mut self.state {
            State::Waiting => {
                if self.window.iter().filter(|&&s| s).count() >= START_VOTES {
                    self.state = State::Speaking {
                        frames: 0,
                        silent: 0,
                    };
                    return Some(Edge::Started);
                }
                None
            }
            State::Speaking { frames, silent } => {
                *frames += 1;
                *silent = if speech { 0 } else { *silent + 1 };
                let reason = if *silent >= self.silence_frames {
                    Some(EndReason::Silence)
                } else if *frames >= self.max_frames {
                    Some(EndReason::MaxSpeech)
                } else {
                    None
                };
                if let Some(r) = reason {
                    self.state = State::Done;
                    return Some(Edge::Ended(r));
                }
                None
            }
            State::Done => None,
        }
    }

    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Audio seen so far.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.seen * FRAME_MS)
    }

    /// Continuous non-speech at the end of what was seen (speech or not before it).
    pub fn silence_since_start(&self) -> Duration {
        Duration::from_millis(self.quiet_run * FRAME_MS)
    }
}

/// Whole VAD frames in `d` (rounded up).
pub fn frames(d: Duration) -> u64 {
    (d.as_millis() as u64).div_ceil(FRAME_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ep: &mut Endpointer, pattern: &str) -> Vec<(usize, Edge)> {
        pattern
            .chars()
            .enumerate()
            .filter_map(|(i, c)| ep.push(c == 'x').map(|e| (i, e)))
            .collect()
    }

    #[test]
    fn a_click_is_not_speech_but_a_word_is() {
        let mut ep = Endpointer::new(Duration::from_millis(160), Duration::from_secs(10));
        assert!(run(&mut ep, "..x...x....xx.....").is_empty());
        let edges = run(&mut ep, "xxxxxxx...........");
        assert_eq!(edges[0], (6, Edge::Started));
        // 160 ms = 10 frames of silence after the word.
        assert_eq!(edges[1], (16, Edge::Ended(EndReason::Silence)));
        assert!(!ep.in_speech());
        assert!(
            run(&mut ep, "xxxxxxxxxx").is_empty(),
            "one utterance per endpointer"
        );
    }

    #[test]
    fn short_pauses_inside_an_utterance_do_not_end_it() {
        let mut ep = Endpointer::new(Duration::from_millis(160), Duration::from_secs(10));
        let edges = run(&mut ep, "xxxxxxxx.....xxxxx......xxx..........");
        assert_eq!(edges.len(), 2);
        assert_eq!(edges[1].1, Edge::Ended(EndReason::Silence));
        assert_eq!(edges[1].0, 36);
    }

    #[test]
    fn endless_speech_stops_at_max_speech() {
        let mut ep = Endpointer::new(Duration::from_millis(500), Duration::from_millis(320));
        let edges = run(&mut ep, &"x".repeat(40));
        assert_eq!(edges[1], (26, Edge::Ended(EndReason::MaxSpeech)));
    }

    #[test]
    fn silence_is_counted_without_speech_first() {
        let mut ep = Endpointer::new(Duration::from_millis(500), Duration::from_secs(5));
        run(&mut ep, "....................");
        assert_eq!(ep.silence_since_start(), Duration::from_millis(320));
        assert_eq!(ep.elapsed(), Duration::from_millis(320));
        run(&mut ep, "x.");
        assert_eq!(ep.silence_since_start(), Duration::from_millis(16));
    }
}
