//! The `stream` node on virtual time: what the bot is told, its keys, its ending, its
//! transfer, `max_duration`.

use std::time::Duration;

use crate::flow::program::{Hangup, NodeKind, Play, Stream, StreamProtocol};
use crate::machine::io::{Action, Input};
use crate::machine::testkit::{Builder, Harness};

fn harness(max: Option<Duration>) -> Harness {
    let mut b = Builder::new(&[]);
    let url = b.text("wss://bot.example.com/{{ call.id }}");
    let auth = b.text("Bearer {{ call.from }}");
    let lang = b.text("is");
    let next = b.t("after");
    let on_error = b.t("oops");
    b.def(
        "bot",
        NodeKind::Stream(Box::new(Stream {
            url,
            protocol: StreamProtocol::Ringover,
            headers: vec![("Authorization".into(), auth)],
            custom: vec![("lang".into(), lang)],
            max_duration: max,
            rate: 16000,
            save: Some("bot".into()),
            next,
            on_error: Some(on_error),
        })),
    );
    let after = b.prompts(&["after.wav"]);
    let oops = b.prompts(&["oops.wav"]);
    let bye = b.t("bye");
    b.def(
        "after",
        NodeKind::Play(Play {
            prompts: after,
            next: bye,
        }),
    );
    b.def(
        "oops",
        NodeKind::Play(Play {
            prompts: oops,
            next: bye,
        }),
    );
    b.def("bye", NodeKind::Hangup(Hangup { reason: None }));
    let mut h = Harness::new(b.build("bot"));
    h.answer();
    h
}

fn stream_id(h: &Harness) -> crate::machine::io::RequestId {
    h.last_id("stream")
}

#[test]
fn the_bot_gets_the_rendered_request_and_the_callers_keys() {
    let mut h = harness(None);
    let Some(Action::Stream(req)) = h.actions.first().cloned() else {
        panic!("{:?}", h.log)
    };
    assert_eq!(req.url, "wss://bot.example.com/call-1");
    assert_eq!(
        req.headers,
        vec![("Authorization".into(), "Bearer +15550001".into())]
    );
    assert_eq!(req.custom["lang"], "is");
    assert_eq!((req.protocol, req.rate), (StreamProtocol::Ringover, 16000));
    assert_eq!((req.from.as_str(), req.to.as_str()), ("+15550001", "5000"));
    h.dtmf("5");
    assert_eq!(h.log.last().map(String::as_str), Some("stream dtmf 5"));
    let id = stream_id(&h);
    h.input(Input::StreamEnded {
        id,
        result: Ok(serde_json::json!({"intent": "sales"})),
    });
    assert_eq!(h.log.last().map(String::as_str), Some("play after.wav"));
    assert_eq!(h.call.vars()["bot"].to_string(), "{'intent': 'sales'}");
}

#[test]
fn a_failed_stream_takes_on_error_and_max_duration_cancels_to_next() {
    let mut h = harness(None);
    let id = stream_id(&h);
    h.input(Input::StreamEnded {
        id,
        result: Err("the bot's connection dropped".into()),
    });
    assert_eq!(h.log.last().map(String::as_str), Some("play oops.wav"));

    let mut h = harness(Some(Duration::from_secs(30)));
    h.wait(29_000);
    assert_eq!(h.log.len(), 1, "{:?}", h.log);
    h.wait(2_000);
    assert_eq!(&h.log[1..], ["cancel", "play after.wav"]);
}

#[test]
fn a_bots_transfer_is_the_flows_transfer_and_its_failure_takes_on_error() {
    let mut h = harness(Some(Duration::from_secs(30)));
    let id = stream_id(&h);
    h.input(Input::StreamTransfer {
        id,
        target: "tel:+15550009".into(),
    });
    assert_eq!(
        h.log.last().map(String::as_str),
        Some("transfer tel:+15550009")
    );
    h.wait(60_000);
    assert_eq!(h.log.len(), 2, "the session deadline is off: {:?}", h.log);
    let tid = h.last_id("transfer");
    h.input(Input::TransferResult {
        id: tid,
        result: Err("486 Busy Here".into()),
    });
    assert_eq!(h.log.last().map(String::as_str), Some("play oops.wav"));

    let mut h = harness(None);
    let id = stream_id(&h);
    h.input(Input::StreamTransfer {
        id,
        target: "tel:+15550009".into(),
    });
    let tid = h.last_id("transfer");
    h.input(Input::TransferResult {
        id: tid,
        result: Ok(()),
    });
    assert_eq!(h.log.last().map(String::as_str), Some("hangup transferred"));
}

#[test]
fn a_templated_prompt_plays_only_an_http_url() {
    use crate::machine::io::Media;
    for (src, played) in [
        ("https://masdif.example.com/a.mp3", true),
        ("../../etc/passwd", false),
    ] {
        let mut b = Builder::new(&[]);
        let t = b.text("{{ vars.src }}");
        b.var("src", serde_json::json!(src));
        let prompt = b.template_prompt("{{ vars.src }}", t);
        let end = b.t("end");
        b.def(
            "speak",
            NodeKind::Play(Play {
                prompts: vec![prompt],
                next: end,
            }),
        );
        b.def("end", NodeKind::Hangup(Hangup { reason: None }));
        let mut h = Harness::new(b.build("speak"));
        h.answer();
        if played {
            assert!(
                matches!(h.actions.first(), Some(Action::Play { media: Media::Url(u), .. }) if u == src),
                "{:?}",
                h.log
            );
        } else {
            assert!(h.log[0].starts_with("warn"), "{:?}", h.log);
            assert_eq!(h.log.last().map(String::as_str), Some("hangup flow"));
        }
    }
}
