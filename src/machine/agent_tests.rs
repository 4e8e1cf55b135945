//! The agent node on virtual time: the request it renders, the prepare hint, keys, and every
//! way a conversation can end (flows compiled from YAML, so the tests read like flows).

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::flow::compile::{compile, NoSubflows, SoundIndex};
use crate::flow::program::{AgentDtmf, Program, TurnDetection};
use crate::machine::io::{Action, AgentOutcome, AgentThen, Input, ToolKind};
use crate::machine::testkit::Harness;

const FLOW: &str = r#"
vars: { account: "42" }
start: intro
nodes:
  intro: { play: intro.wav, next: assistant }
  assistant:
    agent:
      model: gpt-realtime-mini
      instructions: "You help caller {{ call.from }}."
      greeting: "Hello, account {{ vars.account }}!"
      turn_detection: { type: server_vad, silence_duration: 700ms }
      dtmf: send
      max_duration: 2m
      save: chat
      tools:
        - name: lookup
          description: Look an order up
          parameters: { type: object, properties: { order: { type: string } }, required: [order] }
          webhook: { url: "https://api.example.com/{{ vars.account }}/orders", headers: { X-Call: "{{ call.id }}" } }
        - { name: billing, description: The caller has a billing question, goto: billing }
        - { builtin: end_call }
        - { builtin: transfer, targets: { sales: "sip:200@pbx", support: "sip:{{ vars.account }}@pbx" } }
    next: goodbye
    on_error: sorry
  billing: { play: billing.wav, next: end }
  goodbye: { play: bye.wav, next: end }
  sorry: { play: sorry.wav, next: end }
  end: { hangup: {} }
"#;

fn program(text: &str) -> Arc<Program> {
    let sounds = SoundIndex::new(
        "snd",
        ["intro.wav", "billing.wav", "bye.wav", "sorry.wav"].map(String::from),
    );
    let c = compile(text, Path::new("t.yaml"), &sounds, &NoSubflows);
    assert!(
        c.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        c.diagnostics
    );
    Arc::new(c.program.expect("compiles"))
}

/// Answered, intro played, agent started.
fn in_conversation() -> Harness {
    let mut h = Harness::new(program(FLOW));
    h.answer();
    h.finish();
    h
}

fn end_with(h: &mut Harness, then: AgentThen) {
    let id = h.last_id("agent");
    h.input(Input::AgentEnded {
        id,
        result: Ok(AgentOutcome {
            result: json!({"ended_by": "test", "intent": "x"}),
            then,
        }),
    });
}

#[test]
fn the_play_before_an_agent_prepares_it_and_the_request_is_rendered() {
    let mut h = Harness::new(program(FLOW));
    h.answer();
    assert_eq!(
        h.take(),
        [
            "play snd/intro.wav",
            "prepare agent You help caller +15550001."
        ]
    );
    h.finish();
    assert_eq!(h.take(), ["agent You help caller +15550001."]);
    let Some(Action::Agent { agent, .. }) = h.actions.last() else {
        panic!("agent action")
    };
    assert_eq!(agent.model.as_deref(), Some("gpt-realtime-mini"));
    assert_eq!(agent.voice, None, "the configured default applies");
    assert_eq!(agent.greeting.as_deref(), Some("Hello, account 42!"));
    assert_eq!(agent.dtmf, AgentDtmf::Send);
    assert!(matches!(
        agent.turn_detection,
        Some(TurnDetection::ServerVad { silence_duration: Some(d), .. }) if d.as_millis() == 700
    ));
    let names: Vec<&str> = agent.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["lookup", "billing", "end_call", "transfer"]);
    let ToolKind::Webhook(w) = &agent.tools[0].kind else {
        panic!("webhook")
    };
    assert_eq!(w.url, "https://api.example.com/42/orders");
    assert_eq!(w.headers, [("X-Call".to_owned(), "call-1".to_owned())]);
    assert_eq!(
        agent.tools[3].kind,
        ToolKind::Transfer {
            targets: vec!["sales".into(), "support".into()]
        }
    );
    assert_eq!(
        agent.tools[3].parameters["properties"]["target"]["enum"],
        json!(["sales", "support"])
    );
}

#[test]
fn keys_go_to_the_session_when_dtmf_is_send() {
    let mut h = in_conversation();
    h.take();
    h.dtmf("5");
    assert_eq!(h.take(), ["agent dtmf 5"]);
    let ignoring = FLOW.replace("dtmf: send", "dtmf: ignore");
    let mut h = Harness::new(program(&ignoring));
    h.answer();
    h.finish();
    h.take();
    h.dtmf("5");
    assert!(h.take().is_empty(), "ignored");
}

#[test]
fn a_global_key_leaves_the_conversation() {
    let flow = FLOW.replace("vars: {", "keys: { \"0\": { goto: sorry } }\nvars: {");
    let mut h = Harness::new(program(&flow));
    h.answer();
    h.finish();
    h.take();
    h.dtmf("0");
    assert_eq!(h.take(), ["cancel", "play snd/sorry.wav"]);
}

#[test]
fn the_result_is_saved_and_next_is_taken() {
    let mut h = in_conversation();
    end_with(&mut h, AgentThen::Next);
    assert_eq!(h.take().last().unwrap(), "play snd/bye.wav");
    let chat = h.call.vars().get("chat").unwrap();
    assert_eq!(chat.get_attr("intent").unwrap().as_str(), Some("x"));
}

#[test]
fn a_goto_tool_continues_at_its_node() {
    let mut h = in_conversation();
    end_with(&mut h, AgentThen::Goto { tool: 1 });
    assert_eq!(h.take().last().unwrap(), "play snd/billing.wav");
}

#[test]
fn end_call_hangs_up() {
    let mut h = in_conversation();
    end_with(&mut h, AgentThen::EndCall);
    assert_eq!(h.take().last().unwrap(), "hangup end_call");
}

#[test]
fn transfer_renders_the_chosen_target_and_a_failure_takes_on_error() {
    let mut h = in_conversation();
    end_with(&mut h, AgentThen::Transfer { target: 1 });
    assert_eq!(h.take().last().unwrap(), "transfer sip:42@pbx");
    let id = h.last_id("transfer");
    h.input(Input::TransferResult {
        id,
        result: Err("486 Busy Here".into()),
    });
    let log = h.take();
    assert!(
        log[0].starts_with("warn assistant: agent transfer failed"),
        "{log:?}"
    );
    assert_eq!(log[1], "play snd/sorry.wav");

    let mut h = in_conversation();
    end_with(&mut h, AgentThen::Transfer { target: 0 });
    let id = h.last_id("transfer");
    h.input(Input::TransferResult { id, result: Ok(()) });
    assert_eq!(h.take().last().unwrap(), "hangup transferred");
}

#[test]
fn an_error_takes_on_error_and_an_impossible_outcome_is_an_error_too() {
    let mut h = in_conversation();
    h.take();
    let id = h.last_id("agent");
    h.input(Input::AgentEnded {
        id,
        result: Err("401 Unauthorized".into()),
    });
    let log = h.take();
    assert!(log[0].contains("401 Unauthorized"), "{log:?}");
    assert_eq!(log[1], "play snd/sorry.wav");

    let mut h = in_conversation();
    end_with(&mut h, AgentThen::Goto { tool: 0 });
    assert_eq!(
        h.take().last().unwrap(),
        "play snd/sorry.wav",
        "tool 0 is a webhook"
    );
}

#[test]
fn a_late_outcome_for_an_abandoned_session_is_ignored() {
    let flow = FLOW.replace("vars: {", "keys: { \"0\": { goto: sorry } }\nvars: {");
    let mut h = Harness::new(program(&flow));
    h.answer();
    h.finish();
    let id = h.last_id("agent");
    h.dtmf("0");
    h.take();
    h.input(Input::AgentEnded {
        id,
        result: Ok(AgentOutcome {
            result: json!({}),
            then: AgentThen::EndCall,
        }),
    });
    assert!(h.take().is_empty());
}

#[test]
fn an_instructions_template_that_fails_takes_on_error_without_a_session() {
    // `chat` is defined (saved by this very node) but not set yet when the node starts.
    let flow = FLOW.replace("{{ call.from }}", "{{ vars.chat.intent }}");
    let mut h = Harness::new(program(&flow));
    h.answer();
    assert_eq!(h.take(), ["play snd/intro.wav"], "no prepare either");
    h.finish();
    let log = h.take();
    assert!(
        log[0].starts_with("warn assistant: agent instructions"),
        "{log:?}"
    );
    assert_eq!(log[1], "play snd/sorry.wav");
}

#[test]
fn the_agent_a_call_needs_first_is_known_before_it_is_answered() {
    let h = Harness::new(program(FLOW));
    let req = h
        .call
        .agent_at_start()
        .expect("intro plays, then the agent");
    assert_eq!(req.greeting.as_deref(), Some("Hello, account 42!"));
    let direct = FLOW.replace("start: intro", "start: assistant");
    assert!(Harness::new(program(&direct))
        .call
        .agent_at_start()
        .is_some());
    let elsewhere = FLOW.replace("start: intro", "start: goodbye");
    assert!(Harness::new(program(&elsewhere))
        .call
        .agent_at_start()
        .is_none());
}
