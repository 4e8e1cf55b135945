//! The Twilio leg's media rules on virtual time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::engine::audio_port::{pair, AudioFormat, PortConfig};
use crate::wsmedia::twilio::Media as TwMedia;

fn prompt(frames: usize, byte: u8) -> Arc<[Frame]> {
    (0..frames)
        .map(|_| Frame::from_bytes(bytes::Bytes::from(vec![byte; FRAME_BYTES])))
        .collect::<Vec<_>>()
        .into()
}

struct T {
    core: TwilioCore,
    now: Instant,
}

impl T {
    fn new() -> T {
        let now = Instant::now();
        T {
            core: TwilioCore::new(CoreConfig::default(), now),
            now,
        }
    }

    fn outs(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// Advances by `d`, firing every timeout on the way; returns what came out.
    fn advance(&mut self, d: Duration) -> Vec<(Duration, Out)> {
        let start = self.now;
        let end = self.now + d;
        let mut got = Vec::new();
        loop {
            for o in self.outs() {
                got.push((self.now - start, o));
            }
            match self.core.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.core.on_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        got
    }

    fn keep_alive(&mut self) {
        let now = self.now;
        self.core.on_message(
            FromTwilio::Media(TwMedia {
                payload: vec![0xff; 160],
                track: None,
                timestamp: None,
            }),
            now,
        );
    }
}

fn media_times(outs: &[(Duration, Out)]) -> Vec<Duration> {
    outs.iter()
        .filter(|(_, o)| matches!(o, Out::Send(ToTwilio::Media(_))))
        .map(|(t, _)| *t)
        .collect()
}

fn mark_name(outs: &[(Duration, Out)]) -> Option<String> {
    outs.iter().find_map(|(_, o)| match o {
        Out::Send(ToTwilio::Mark(n)) => Some(n.clone()),
        _ => None,
    })
}

#[test]
fn a_prompt_is_paced_in_real_time_with_a_small_lead() {
    let mut t = T::new();
    let now = t.now;
    t.core.play(RequestId(1), Media::File("a.wav".into()), now);
    assert!(matches!(
        t.outs()[..],
        [Out::Load {
            id: RequestId(1),
            ..
        }]
    ));
    t.core.loaded(RequestId(1), Ok(prompt(50, 1)), now);
    let outs = t.advance(Duration::from_secs(2));
    let times = media_times(&outs);
    assert_eq!(times.len(), 50);
    // The lead (2 frames) goes at once with the first; then one frame per 20 ms.
    assert_eq!(&times[..3], &[Duration::ZERO; 3]);
    for w in times[2..].windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(20), "{times:?}");
    }
    assert_eq!(times[49], Duration::from_millis(940));
    assert!(mark_name(&outs).is_some(), "a mark follows the last frame");
    assert!(
        !outs
            .iter()
            .any(|(_, o)| matches!(o, Out::Event(LegEvent::PlaybackFinished(_)))),
        "finished only when Twilio echoes the mark"
    );
}

#[test]
fn the_marks_echo_finishes_the_prompt() {
    let mut t = T::new();
    let now = t.now;
    t.core.play(RequestId(4), Media::File("a.wav".into()), now);
    t.core.loaded(RequestId(4), Ok(prompt(5, 1)), now);
    let outs = t.advance(Duration::from_millis(200));
    let name = mark_name(&outs).unwrap();
    t.core.on_message(FromTwilio::Mark("unknown".into()), t.now);
    assert!(t.outs().is_empty(), "an unknown mark is ignored");
    t.core.on_message(FromTwilio::Mark(name), t.now);
    assert_eq!(
        t.outs(),
        vec![Out::Event(LegEvent::PlaybackFinished(RequestId(4)))]
    );
}

#[test]
fn a_mark_never_echoed_still_finishes_its_prompt_after_the_grace() {
    let mut t = T::new();
    let now = t.now;
    t.core.play(RequestId(2), Media::File("a.wav".into()), now);
    t.core.loaded(RequestId(2), Ok(prompt(5, 1)), now);
    let outs = t.advance(Duration::from_secs(2));
    assert!(!outs
        .iter()
        .any(|(_, o)| matches!(o, Out::Event(LegEvent::PlaybackFinished(_)))));
    t.keep_alive();
    let outs = t.advance(Duration::from_secs(3));
    let finished: Vec<_> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Out::Event(LegEvent::PlaybackFinished(RequestId(2)))))
        .collect();
    assert_eq!(finished.len(), 1);
    assert!(finished[0].0 < Duration::from_secs(2));
}

#[test]
fn barge_in_clears_twilios_buffer_and_the_next_prompt_follows() {
    let mut t = T::new();
    let now = t.now;
    t.core
        .play(RequestId(1), Media::File("long.wav".into()), now);
    t.core.loaded(RequestId(1), Ok(prompt(500, 1)), now);
    let before = t.advance(Duration::from_millis(500));
    let sent = media_times(&before).len();
    assert_eq!(sent, 28, "25 slots + the lead");
    let now = t.now;
    t.core.stop(RequestId(1), now);
    t.core.play(RequestId(2), Media::File("b.wav".into()), now);
    t.core.loaded(RequestId(2), Ok(prompt(3, 2)), now);
    let outs = t.outs();
    assert_eq!(outs[0], Out::Send(ToTwilio::Clear), "{outs:?}");
    match &outs[2] {
        Out::Send(ToTwilio::Media(f)) => assert_eq!(f[0], 2, "the response starts at once"),
        other => panic!("{other:?}"),
    }
    assert!(!outs
        .iter()
        .any(|o| matches!(o, Out::Event(LegEvent::PlaybackFinished(RequestId(1))))));
}

#[test]
fn stopping_a_prompt_whose_audio_twilio_holds_clears_and_other_marks_finish_here() {
    let mut t = T::new();
    let now = t.now;
    t.core.play(RequestId(1), Media::File("a.wav".into()), now);
    t.core.loaded(RequestId(1), Ok(prompt(2, 1)), now);
    t.core.play(RequestId(2), Media::File("b.wav".into()), now);
    t.core.loaded(RequestId(2), Ok(prompt(2, 2)), now);
    let _ = t.advance(Duration::from_millis(100));
    // Both fully sent; both marks pending. Stopping 2 clears; 1's mark resolves here.
    let now = t.now;
    t.core.stop(RequestId(2), now);
    assert_eq!(
        t.outs(),
        vec![
            Out::Send(ToTwilio::Clear),
            Out::Event(LegEvent::PlaybackFinished(RequestId(1)))
        ]
    );
    // A prompt still loading is dropped quietly: nothing of it was sent.
    t.core
        .play(RequestId(3), Media::Url("http://x/y.mp3".into()), now);
    let _ = t.outs();
    t.core.stop(RequestId(3), now);
    assert_eq!(t.outs(), vec![Out::Unload(RequestId(3))]);
}

#[test]
fn a_failed_prompt_is_reported_and_the_queue_goes_on() {
    let mut t = T::new();
    let now = t.now;
    t.core
        .play(RequestId(1), Media::File("gone.wav".into()), now);
    t.core.play(RequestId(2), Media::File("b.wav".into()), now);
    t.core.loaded(RequestId(2), Ok(prompt(2, 2)), now);
    let _ = t.outs();
    t.core.loaded(RequestId(1), Err("no such file".into()), now);
    let outs = t.outs();
    assert_eq!(
        outs[0],
        Out::Event(LegEvent::PlaybackFailed {
            id: RequestId(1),
            reason: "no such file".into()
        })
    );
    assert!(matches!(outs[1], Out::Send(ToTwilio::Media(ref f)) if f[0] == 2));
}

#[test]
fn a_remote_prompt_plays_as_it_downloads() {
    let mut t = T::new();
    let now = t.now;
    t.core
        .play(RequestId(1), Media::Url("http://x/a.mp3".into()), now);
    let _ = t.outs();
    assert_eq!(
        t.core.wants_stream(),
        Some(RequestId(1)),
        "pulled from the start (the regression: a URL waiting as `Loading` was never pulled)"
    );
    assert!(
        t.advance(Duration::from_millis(100)).is_empty(),
        "nothing yet"
    );
    let now = t.now;
    t.core
        .stream_frames(RequestId(1), prompt(3, 5).to_vec(), now);
    assert_eq!(t.core.wants_stream(), Some(RequestId(1)));
    let outs = t.advance(Duration::from_millis(200));
    assert_eq!(
        media_times(&outs).len(),
        3,
        "an underrun waits, no mark yet"
    );
    assert!(mark_name(&outs).is_none());
    let now = t.now;
    t.core
        .stream_frames(RequestId(1), prompt(2, 5).to_vec(), now);
    t.core.stream_end(RequestId(1), Ok(()), now);
    let outs = t.advance(Duration::from_millis(200));
    assert_eq!(media_times(&outs).len(), 2);
    assert!(mark_name(&outs).is_some());
}

#[test]
fn caller_audio_reaches_attached_ports_in_20ms_frames_and_keys_are_events() {
    let mut t = T::new();
    let (mut port, tap) = pair(AudioFormat::NARROWBAND, PortConfig::default());
    t.core.attach(RequestId(9), tap);
    let now = t.now;
    t.core.on_message(
        FromTwilio::Media(TwMedia {
            payload: vec![Law::Mu.encode_sample(1000); 240],
            track: None,
            timestamp: None,
        }),
        now,
    );
    t.core.on_message(
        FromTwilio::Media(TwMedia {
            payload: vec![Law::Mu.encode_sample(1000); 80],
            track: None,
            timestamp: None,
        }),
        now,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for _ in 0..2 {
        let f = rt.block_on(port.recv()).unwrap();
        assert_eq!(f.samples.len(), 160);
        assert!((f.samples[0] - 1000).abs() < 40);
    }
    let five = Digit::from_char('5').unwrap();
    t.core.on_message(FromTwilio::Dtmf(five), now);
    assert_eq!(
        t.outs(),
        vec![Out::Event(LegEvent::Dtmf {
            digit: five,
            method: DtmfMethod::MediaStream
        })]
    );
}

#[test]
fn live_audio_plays_after_prompts_and_a_port_clear_clears_twilio() {
    let mut t = T::new();
    let cfg = PortConfig {
        hangover: 0,
        ..PortConfig::default()
    };
    let (port, tap) = pair(AudioFormat::NARROWBAND, cfg);
    t.core.attach(RequestId(7), tap);
    let now = t.now;
    t.core.play(RequestId(1), Media::File("a.wav".into()), now);
    t.core.loaded(RequestId(1), Ok(prompt(2, 1)), now);
    for _ in 0..10 {
        port.try_send(AudioFrame {
            samples: vec![2000; 160],
        })
        .unwrap();
    }
    t.core.wake(now);
    let outs = t.advance(Duration::from_millis(100));
    let frames: Vec<u8> = outs
        .iter()
        .filter_map(|(_, o)| match o {
            Out::Send(ToTwilio::Media(f)) => Some(f[0]),
            _ => None,
        })
        .collect();
    assert_eq!(&frames[..2], &[1, 1], "the prompt first");
    assert_eq!(frames[2], Law::Mu.encode_sample(2000), "then live audio");
    port.clear();
    let now = t.now;
    t.core.wake(now);
    let outs = t.outs();
    assert_eq!(outs, vec![Out::Send(ToTwilio::Clear)]);
    let outs = t.advance(Duration::from_millis(100));
    assert!(media_times(&outs).is_empty(), "cleared audio never plays");
}

#[test]
fn stop_from_twilio_or_silence_ends_the_leg() {
    let mut t = T::new();
    let now = t.now;
    t.core.on_message(FromTwilio::Stop, now);
    assert_eq!(
        t.outs(),
        vec![Out::Event(LegEvent::Ended(LegEnd::Remote)), Out::Close]
    );
    let mut t = T::new();
    let outs = t.advance(Duration::from_secs(31));
    assert_eq!(outs[0].0, Duration::from_secs(30));
    assert_eq!(outs[0].1, Out::Event(LegEvent::Ended(LegEnd::NoMedia)));
    assert_eq!(t.core.poll_timeout(), None);
}

#[test]
fn keys_towards_the_caller_are_tones_in_band() {
    let mut t = T::new();
    let now = t.now;
    t.core.send_dtmf(Digit::from_char('1').unwrap(), now);
    let outs = t.advance(Duration::from_millis(300));
    assert_eq!(media_times(&outs).len(), 8);
    assert!(mark_name(&outs).is_none(), "tones are not a request");
    let first = match &outs[0].1 {
        Out::Send(ToTwilio::Media(f)) => f.clone(),
        other => panic!("{other:?}"),
    };
    let mut pcm = Vec::new();
    Law::Mu.decode(&first, &mut pcm);
    let energy: f64 = pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len() as f64;
    assert!(energy.sqrt() > 5000.0, "audible: rms {}", energy.sqrt());
}
