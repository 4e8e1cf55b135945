//! Flow-language benchmarks (`cargo bench --bench flow`, or `bench/run.sh` which also writes
//! BENCHMARKS.md). Not a test: nothing here asserts on time.
//!
//! Each figure is measured beside a baseline in the same run and reported as a ratio:
//! - compile: validating + compiling a generated 1,000-node flow, against parsing the same YAML
//!   text alone with saphyr-parser (the floor any YAML-based loader pays);
//! - simulate: whole calls of the demo flow `flows/characters.yaml` on virtual time, against the
//!   same calls with every event also rendered as the JSON line `phonetree simulate` prints.
//!
//! Targets from the flow-language issue: ≤ 50 ms per 1,000-node flow; ≥ 100,000 simulated calls
//! per second on one core.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonetree::flow::compile::{compile, NoSubflows, SoundIndex};
use phonetree::flow::digit::Digit;
use phonetree::flow::load::{load_file, LoadOptions};
use phonetree::sim::lengths::FileLengths;
use phonetree::sim::mocks::Mocks;
use phonetree::sim::script::CallerInput;
use phonetree::sim::{call_info, Sim};

const COMPILE_TARGET: Duration = Duration::from_millis(50);
const SIM_TARGET_PER_S: f64 = 100_000.0;

fn main() {
    let nodes: usize = arg("--nodes").unwrap_or(1000);
    let calls: usize = arg("--calls").unwrap_or(10_000);
    println!("| benchmark | measured | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    bench_compile(nodes);
    bench_simulate(calls);
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

/// A flow of `n` nodes in groups of ten: a menu, plays, a say with a template, a set, a switch.
pub fn generated_flow(n: usize) -> String {
    let groups = n.div_ceil(10);
    let mut s =
        String::from("name: big\nroutes: [\"9000\"]\nvars: { count: 0 }\nstart: m0\nnodes:\n");
    for g in 0..groups {
        let next = if g + 1 < groups {
            format!("m{}", g + 1)
        } else {
            "end".into()
        };
        s += &format!(
            "  m{g}:\n    gather: {{ prompt: menu.wav, digits: {{ min: 1, max: 1 }}, timeout: 5s, tries: 3, invalid: invalid.wav }}\n    routes: {{ \"1\": a{g}, \"2\": b{g}, \"3\": c{g}, \"4\": d{g}, \"5\": s{g} }}\n    on_fail: {next}\n"
        );
        for k in ["a", "b", "c", "d"] {
            s += &format!("  {k}{g}: {{ play: prompt_{k}.wav, next: t{g} }}\n");
        }
        s += &format!("  s{g}: {{ say: \"You are caller {{{{ call.from }}}} in group {g}, count {{{{ vars.count }}}}\", next: t{g} }}\n");
        s += &format!("  t{g}: {{ set: {{ count: \"{{{{ vars.count + 1 }}}}\" }}, next: w{g} }}\n");
        s += &format!(
            "  w{g}:\n    switch:\n      - {{ when: \"vars.count > {g}\", goto: p{g} }}\n      - {{ goto: q{g} }}\n"
        );
        s += &format!("  p{g}: {{ pause: 200ms, next: {next} }}\n");
        s += &format!("  q{g}: {{ play: prompt_a.wav, next: {next} }}\n");
    }
    s += "  end: { hangup: {} }\n";
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_compile(n: usize) {
    let text = generated_flow(n);
    let files = [
        "menu.wav",
        "invalid.wav",
        "prompt_a.wav",
        "prompt_b.wav",
        "prompt_c.wav",
        "prompt_d.wav",
    ];
    let sounds = SoundIndex::new("/bench/sound", files.iter().map(|f| f.to_string()));
    let check = compile(&text, Path::new("big.yaml"), &sounds, &NoSubflows);
    let program = check.program.unwrap_or_else(|| {
        for d in &check.diagnostics {
            eprintln!("{d}");
        }
        panic!("the generated flow must compile");
    });
    let node_count = program.nodes.len();

    let runs = 25;
    let full = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                black_box(compile(
                    black_box(&text),
                    Path::new("big.yaml"),
                    &sounds,
                    &NoSubflows,
                ));
                t.elapsed()
            })
            .collect(),
    );
    let parse = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let mut events = 0usize;
                for ev in saphyr_parser::Parser::new_from_str(black_box(&text)) {
                    if ev.is_err() {
                        break;
                    }
                    events += 1;
                }
                black_box(events);
                t.elapsed()
            })
            .collect(),
    );
    println!(
        "| validate + compile, {node_count}-node flow ({} KiB) | {:.2} ms | YAML parse only: {:.2} ms | {:.1}× | ≤ {} ms ({:.2}× of target) |",
        text.len() / 1024,
        ms(full),
        ms(parse),
        full.as_secs_f64() / parse.as_secs_f64(),
        COMPILE_TARGET.as_millis(),
        full.as_secs_f64() / COMPILE_TARGET.as_secs_f64(),
    );
}

fn bench_simulate(calls: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/characters.yaml");
    let compiled = load_file(&path, &LoadOptions::default());
    let program = Arc::new(compiled.program.expect("the demo flow compiles"));
    let info = call_info(&program, "bench", "+15550001", None, |_| None);
    let d = |c| Digit::from_char(c).expect("a DTMF key");
    let script = [
        (4_000, CallerInput::Dtmf(d('1'))),
        (12_000, CallerInput::Dtmf(d('#'))),
        (16_000, CallerInput::Dtmf(d('2'))),
        (24_000, CallerInput::Dtmf(d('*'))),
        (30_000, CallerInput::Dtmf(d('3'))),
        (40_000, CallerInput::Hangup),
    ];
    let mut lengths = FileLengths::default();
    let epoch = Instant::now();
    let run = |lengths: &mut FileLengths, render: bool| -> (Duration, usize) {
        let t = Instant::now();
        let mut events = 0;
        for _ in 0..calls {
            let mut sim = Sim::new(
                program.clone(),
                info.clone(),
                &mut *lengths,
                Mocks::default(),
                epoch,
            );
            for (at, input) in &script {
                sim.schedule(Duration::from_millis(*at), input.clone());
            }
            sim.answer();
            sim.run_to_end();
            let evs = sim.take_events();
            events += evs.len();
            if render {
                for e in &evs {
                    black_box(e.to_json_line());
                }
            }
            black_box(evs);
        }
        (t.elapsed(), events)
    };
    run(&mut lengths, false); // warm the prompt-length cache and the allocator
    let (core, events) = run(&mut lengths, false);
    let (json, _) = run(&mut lengths, true);
    let per_s = calls as f64 / core.as_secs_f64();
    println!(
        "| simulate {calls} calls of characters.yaml ({} events/call), one core | {:.0} calls/s | with JSON output: {:.0} calls/s | {:.2}× | ≥ {:.0} calls/s ({:.2}× of target) |",
        events / calls,
        per_s,
        calls as f64 / json.as_secs_f64(),
        json.as_secs_f64() / core.as_secs_f64(),
        SIM_TARGET_PER_S,
        per_s / SIM_TARGET_PER_S,
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
