//! The offline engine on recorded caller speech (Piper and espeak-ng voices through G.711).

use std::time::Duration;

use super::pool::{PocketSphinx, PoolSize};
use crate::asr::listen::{ListenCore, ListenOutput, ListenParams};
use crate::asr::pcm::To16k;
use crate::asr::testkit;
use crate::asr::{AsrError, AsrEvent, Grammar, Recognizer, Request};

fn engine() -> Option<PocketSphinx> {
    let model = testkit::model()?;
    let size = PoolSize {
        threads: 1,
        decoders_per_thread: 2,
    };
    Some(PocketSphinx::start(model, size).expect("threads start"))
}

fn request(grammar: Option<Grammar>) -> Request {
    Request {
        language: "en-US".into(),
        grammar,
        call: "test".into(),
        silence: Duration::from_millis(700),
    }
}

fn menu() -> Grammar {
    Grammar::new([
        "yes",
        "yeah",
        "no",
        "billing",
        "sales",
        "technical support",
        "agent",
    ])
    .unwrap()
}

/// Feeds a whole fixture (8 kHz) and waits for the final event.
async fn recognise(rec: &mut Recognizer, pcm8k: &[i16]) -> AsrEvent {
    let mut up = To16k::new(8000);
    for frame in pcm8k.chunks(160) {
        let mut pcm = Vec::new();
        up.push(frame, &mut pcm);
        rec.audio(&pcm).expect("queue has room");
    }
    rec.finish();
    final_of(rec).await
}

/// The first non-partial event.
async fn final_of(rec: &mut Recognizer) -> AsrEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rec.event())
            .await
            .expect("a result within 30 s")
            .expect("a final event");
        if !matches!(ev, AsrEvent::Partial(_)) {
            return ev;
        }
    }
}

/// The route a menu with `yes|yeah` would take for a transcript.
fn route(ev: &AsrEvent) -> &str {
    match ev {
        AsrEvent::Final(t) if t == "yeah" => "yes",
        AsrEvent::Final(t) => t,
        _ => "(error)",
    }
}

#[tokio::test]
async fn menu_words_from_piper_are_recognised_with_a_grammar() {
    let Some(ps) = engine() else { return };
    for (file, want) in [
        ("yes", "yes"),
        ("no", "no"),
        ("billing", "billing"),
        ("sales", "sales"),
        ("technical_support", "technical support"),
    ] {
        let mut rec = ps.recognizer(&request(Some(menu())));
        let pcm = testkit::padded(&format!("piper_{file}"), 200, 300);
        let got = recognise(&mut rec, &pcm).await;
        assert_eq!(route(&got), want, "{file}: {got:?}");
    }
}

/// espeak-ng is the hardest voice to recognise (BENCHMARKS.md has the numbers): most of the
/// menu, not all of it.
#[tokio::test]
async fn menu_words_from_espeak_are_mostly_recognised_with_a_grammar() {
    let Some(ps) = engine() else { return };
    let mut right = 0;
    for (file, want) in [
        ("yes", "yes"),
        ("no", "no"),
        ("billing", "billing"),
        ("sales", "sales"),
        ("technical_support", "technical support"),
    ] {
        let mut rec = ps.recognizer(&request(Some(menu())));
        let got = recognise(
            &mut rec,
            &testkit::padded(&format!("espeak_{file}"), 200, 300),
        )
        .await;
        right += usize::from(route(&got) == want);
    }
    assert!(right >= 4, "{right}/5");
}

#[tokio::test]
async fn a_number_with_the_digits_grammar() {
    let Some(ps) = engine() else { return };
    let mut rec = ps.recognizer(&request(Some(Grammar::digits())));
    let got = recognise(
        &mut rec,
        &testkit::padded("piper_one_two_three_four", 200, 300),
    )
    .await;
    assert_eq!(got, AsrEvent::Final("one two three four".into()));
    assert_eq!(Grammar::digits().transcript("one two three four"), "1234");
}

#[tokio::test]
async fn free_speech_uses_the_language_model() {
    let Some(ps) = engine() else { return };
    let mut rec = ps.recognizer(&request(None));
    let got = recognise(
        &mut rec,
        &testkit::padded("piper_technical_support", 200, 300),
    )
    .await;
    // The n-gram model is far weaker on isolated phrases than a grammar (BENCHMARKS.md): only
    // ask for a transcript, which a grammar-only decoder could not give without a grammar.
    match got {
        AsrEvent::Final(text) => assert!(!text.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_grammar_words_are_left_out_and_finish_without_audio_is_empty() {
    let Some(ps) = engine() else { return };
    let g = Grammar::new(["yes", "no", "zorblaxian"]).unwrap();
    let mut rec = ps.recognizer(&request(Some(g)));
    let got = recognise(&mut rec, &testkit::padded("piper_no", 100, 300)).await;
    assert_eq!(got, AsrEvent::Final("no".into()));
    let mut rec = ps.recognizer(&request(Some(menu())));
    rec.finish();
    let ev = tokio::time::timeout(Duration::from_secs(10), rec.event())
        .await
        .unwrap();
    assert_eq!(ev, Some(AsrEvent::Final(String::new())));
}

#[tokio::test]
async fn speakers_beyond_the_decoder_limit_wait_their_turn() {
    let Some(model) = testkit::model() else {
        return;
    };
    let size = PoolSize {
        threads: 1,
        decoders_per_thread: 1,
    };
    let ps = PocketSphinx::start(model, size).unwrap();
    let mut a = ps.recognizer(&request(Some(menu())));
    let mut b = ps.recognizer(&request(Some(menu())));
    let yes = testkit::padded("piper_yes", 100, 200);
    let no = testkit::padded("piper_no", 100, 200);
    // Interleave: b's audio queues behind a's decoder until a finishes.
    let mut up_a = To16k::new(8000);
    let mut up_b = To16k::new(8000);
    for (fa, fb) in yes.chunks(160).zip(no.chunks(160)) {
        let (mut pa, mut pb) = (Vec::new(), Vec::new());
        up_a.push(fa, &mut pa);
        up_b.push(fb, &mut pb);
        a.audio(&pa).unwrap();
        b.audio(&pb).unwrap();
    }
    b.finish();
    a.finish();
    assert_eq!(route(&final_of(&mut a).await), "yes");
    assert_eq!(final_of(&mut b).await, AsrEvent::Final("no".into()));
}

/// The listen core endpoints recorded speech and drives a real recognizer to the transcript.
#[tokio::test]
async fn listen_core_endpoints_speech_and_gets_the_transcript() {
    let Some(ps) = engine() else { return };
    let params = ListenParams {
        silence: Duration::from_millis(700),
        max_speech: Duration::from_secs(10),
        rate: 8000,
    };
    let mut core = ListenCore::new(params, Some(menu()));
    let mut rec = ps.recognizer(&request(Some(menu())));
    let audio = testkit::padded("piper_billing", 1000, 1500);
    let mut seen = Vec::new();
    let mut frames_before_start = 0;
    for frame in audio.chunks(160) {
        core.audio(frame);
        if !seen.contains(&"started") {
            frames_before_start += 1;
        }
        while let Some(out) = core.poll() {
            match out {
                ListenOutput::SpeechStarted => seen.push("started"),
                ListenOutput::Audio(pcm) => rec.audio(&pcm).unwrap(),
                ListenOutput::Finish => {
                    seen.push("finish");
                    rec.finish();
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(seen, ["started", "finish"]);
    // Speech starts after the 1 s of silence (50 frames), within the detector's window.
    assert!(
        (50..=62).contains(&frames_before_start),
        "{frames_before_start}"
    );
    let result = loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rec.event())
            .await
            .unwrap()
            .unwrap();
        core.recognizer(ev);
        if let Some(ListenOutput::Done(r)) = std::iter::from_fn(|| core.poll()).last() {
            break r;
        }
    };
    assert_eq!(result, Ok("billing".to_owned()));
}

#[test]
fn failed_recognizer_reports_its_error() {
    let mut rec = Recognizer::failed(AsrError::NotConfigured("asr.websocket.url".into()));
    assert!(matches!(
        rec.try_event(),
        Some(AsrEvent::Error(AsrError::NotConfigured(_)))
    ));
}
