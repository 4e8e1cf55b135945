//! Speech recognition benchmark (`cargo bench --bench asr`): accuracy of the offline engine on
//! a fixed set of caller phrases, its real-time factor, and the CPU one concurrent `listen`
//! takes. Not a test: nothing here asserts.
//!
//! - Phrases: `bench/asr/phrases.txt` (53 phrases: yes/no, menu words, digit strings), spoken by
//!   Piper (voice "joe") and espeak-ng, through G.711 mu-law at 8 kHz
//!   (`bench/asr/make_speech.py` makes them once into `target/asr-bench/`).
//! - Each utterance goes the way a call's audio goes: 20 ms frames of 8 kHz PCM (600 ms of
//!   silence, the phrase, 1.5 s of silence) into the listen core (VAD, endpointing, pre-roll),
//!   its audio into a PocketSphinx recognizer; the transcript is routed like `listen` routes
//!   it (case-insensitive patterns; digits grammar → digits).
//! - "grammar": each category's phrases as the node's grammar (what a menu gets from its
//!   routes; `listen.grammar: digits` for numbers). "free speech": the full language model.
//! - Real-time factor: process CPU time / audio time, recognizing one utterance at a time.
//!   CPU per listen: K listens fed in real time at once, process CPU / (K x wall time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phonetree::asr::listen::{ListenCore, ListenOutput, ListenParams};
use phonetree::asr::pocketsphinx::pool::{PocketSphinx, PoolSize};
use phonetree::asr::pocketsphinx::{model, Model};
use phonetree::asr::{Grammar, Request};
use phonetree::media::g711;

struct Phrase {
    category: String,
    route: String,
    text: String,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let phrases = load_phrases(&root.join("bench/asr/phrases.txt"));
    let audio_dir = root.join("target/asr-bench");
    if !audio_dir
        .join("espeak")
        .join(format!("{:02}.wav", phrases.len() - 1))
        .exists()
    {
        let venv = std::env::var("PHONETREE_INTEROP_VENV")
            .unwrap_or_else(|_| "/opt/phonetree-interop/venv".into());
        let ok = std::process::Command::new(format!("{venv}/bin/python"))
            .arg(root.join("bench/asr/make_speech.py"))
            .arg(&audio_dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot make the benchmark speech: run .ci/install-deps.sh");
            std::process::exit(2);
        }
    }
    let Some(dir) = model::discover() else {
        eprintln!("no PocketSphinx model: run .ci/install-deps.sh");
        std::process::exit(2);
    };
    let size = PoolSize {
        threads: 1,
        decoders_per_thread: 16,
    };
    let engine = PocketSphinx::start(Model::open(&dir).expect("model opens"), size)
        .expect("recognizer thread starts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(engine, phrases, audio_dir));
}

async fn run(engine: PocketSphinx, phrases: Vec<Phrase>, audio_dir: PathBuf) {
    let mut grammars: BTreeMap<String, Grammar> = BTreeMap::new();
    for cat in ["yesno", "menu"] {
        let g = Grammar::new(
            phrases
                .iter()
                .filter(|p| p.category == cat)
                .map(|p| &p.text),
        );
        grammars.insert(cat.into(), g.expect("phrases"));
    }
    grammars.insert("digits".into(), Grammar::digits());

    println!("### Accuracy (correct route / utterances)\n");
    println!("| engine, mode | voice | yes/no | menu words | numbers | all | real-time factor |");
    println!("|---|---|---|---|---|---|---|");
    let mut misses = Vec::new();
    for free in [false, true] {
        for voice in ["piper", "espeak"] {
            let mut score: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            let (mut cpu, mut audio) = (Duration::ZERO, Duration::ZERO);
            for (i, p) in phrases.iter().enumerate() {
                let pcm = utterance(&audio_dir.join(voice).join(format!("{i:02}.wav")));
                audio += Duration::from_millis(pcm.len() as u64 / 8);
                let grammar = if free {
                    None
                } else {
                    grammars.get(&p.category).cloned()
                };
                let c0 = cpu_time();
                let text = recognise(&engine, &pcm, grammar).await;
                cpu += cpu_time().saturating_sub(c0);
                let got = route_of(&p.category, &text, &phrases);
                let ok = got == p.route;
                if !ok && !free {
                    misses.push(format!("{voice}: \"{}\" heard as \"{text}\"", p.text));
                }
                let e = score.entry(category_name(&p.category)).or_default();
                e.0 += usize::from(ok);
                e.1 += 1;
            }
            let all = score.values().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
            let cell = |k: &str| score.get(k).map_or("-".into(), |s| pct(s.0, s.1));
            println!(
                "| PocketSphinx 5, {} | {voice} | {} | {} | {} | {} | {:.3} |",
                if free { "free speech" } else { "grammar" },
                cell("yes/no"),
                cell("menu words"),
                cell("numbers"),
                pct(all.0, all.1),
                cpu.as_secs_f64() / audio.as_secs_f64()
            );
        }
    }
    println!("\nMisrecognised with a grammar:\n");
    for m in &misses {
        println!("- {m}");
    }

    println!("\n### CPU per concurrent listen (grammar, audio fed in real time)\n");
    println!("| concurrent listens | CPU per listen (% of a core) |");
    println!("|---|---|");
    let sample = utterance(&audio_dir.join("piper/17.wav"));
    for k in [1usize, 4, 16] {
        let c0 = cpu_time();
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..k {
            let engine = engine.clone();
            let pcm = sample.clone();
            let g = grammars.get("menu").cloned();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                recognise_paced(&engine, &pcm, g, &mut tick).await
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let cpu = cpu_time().saturating_sub(c0);
        let wall = t0.elapsed();
        println!(
            "| {k} | {:.2} |",
            100.0 * cpu.as_secs_f64() / (k as f64 * wall.as_secs_f64())
        );
    }
}

fn category_name(c: &str) -> &'static str {
    match c {
        "yesno" => "yes/no",
        "menu" => "menu words",
        _ => "numbers",
    }
}

fn pct(ok: usize, n: usize) -> String {
    format!("{:.1} % ({ok}/{n})", 100.0 * ok as f64 / n.max(1) as f64)
}

/// The route a flow would take: menu and yes/no routes are the phrases' own alternatives
/// matched case-insensitively on word boundaries; numbers compare digits.
fn route_of(category: &str, text: &str, phrases: &[Phrase]) -> String {
    if category == "digits" {
        // With the digits grammar the listen core already gave digits; free speech gives words.
        if text.chars().any(|c| c.is_ascii_digit()) {
            return text.chars().filter(char::is_ascii_digit).collect();
        }
        return Grammar::digits().transcript(text);
    }
    let mut routes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in phrases.iter().filter(|p| p.category == category) {
        routes.entry(&p.route).or_default().push(&p.text);
    }
    // Longest alternatives first, as a flow author orders specific routes first.
    let mut ordered: Vec<(&str, &str)> = routes
        .iter()
        .flat_map(|(r, alts)| alts.iter().map(move |a| (*r, *a)))
        .collect();
    ordered.sort_by_key(|(_, a)| std::cmp::Reverse(a.len()));
    for (route, alt) in ordered {
        let re = regex::RegexBuilder::new(&format!(r"\b{}\b", regex::escape(alt)))
            .case_insensitive(true)
            .build()
            .expect("escaped");
        if re.is_match(text) {
            return route.to_owned();
        }
    }
    String::new()
}

fn load_phrases(path: &Path) -> Vec<Phrase> {
    std::fs::read_to_string(path)
        .expect("phrases.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            Phrase {
                category: f[0].into(),
                route: f[1].into(),
                text: f[2].into(),
            }
        })
        .collect()
}

/// 600 ms of silence, the phrase (mu-law WAV decoded), 1.5 s of silence, at 8 kHz.
fn utterance(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("speech file");
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk")
        + 8;
    let mut pcm = vec![0i16; 600 * 8];
    pcm.extend(bytes[data..].iter().map(|&c| g711::ulaw_decode(c)));
    pcm.extend(std::iter::repeat_n(0i16, 1500 * 8));
    pcm
}

async fn recognise(engine: &PocketSphinx, pcm: &[i16], grammar: Option<Grammar>) -> String {
    let mut tick = None;
    drive(engine, pcm, grammar, &mut tick).await
}

async fn recognise_paced(
    engine: &PocketSphinx,
    pcm: &[i16],
    grammar: Option<Grammar>,
    tick: &mut tokio::time::Interval,
) -> String {
    let mut t = Some(tick);
    drive(engine, pcm, grammar, &mut t).await
}

async fn drive(
    engine: &PocketSphinx,
    pcm: &[i16],
    grammar: Option<Grammar>,
    tick: &mut Option<&mut tokio::time::Interval>,
) -> String {
    let params = ListenParams {
        silence: Duration::from_millis(700),
        max_speech: Duration::from_secs(15),
        rate: 8000,
    };
    let mut core = ListenCore::new(params, grammar.clone());
    let req = Request {
        language: "en-US".into(),
        grammar,
        call: "bench".into(),
        silence: params.silence,
    };
    let mut rec = engine.recognizer(&req);
    for frame in pcm.chunks(160) {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        core.audio(frame);
        while let Some(out) = core.poll() {
            match out {
                ListenOutput::Audio(a) => {
                    if let Err(e) = rec.audio(&a) {
                        core.fail(e);
                    }
                }
                ListenOutput::Finish => rec.finish(),
                ListenOutput::Done(r) => return r.unwrap_or_default(),
                _ => {}
            }
        }
    }
    rec.finish();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), rec.event()).await {
            Ok(Some(ev)) => {
                core.recognizer(ev);
                while let Some(out) = core.poll() {
                    if let ListenOutput::Done(r) = out {
                        return r.unwrap_or_default();
                    }
                }
            }
            _ => return String::new(),
        }
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
