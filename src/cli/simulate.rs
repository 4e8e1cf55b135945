//! `phonetree simulate FLOW`: compiles one flow, runs one call through it on virtual time with
//! scripted caller input and mocks, and prints the call's events as JSON lines on stdout.
//! Diagnostics go to stderr; a flow with errors exits 1, unreadable inputs exit 2.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use crate::flow::duration::parse_duration;
use crate::flow::load::{load_file, LoadOptions};
use crate::sim::lengths::FileLengths;
use crate::sim::mocks::Mocks;
use crate::sim::script::{parse_dtmf_script, parse_speech_script};
use crate::sim::{call_info, Sim};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The flow file.
    pub flow: PathBuf,
    /// Keys pressed, at times after answer: `1@4s,#@9s` (`12#@4s` types three keys 100 ms apart).
    #[arg(long, value_name = "KEYS@TIME,...")]
    pub dtmf: Option<String>,
    /// Caller speech, at times after answer: `yes please@6s`.
    #[arg(long, value_name = "TEXT@TIME,...")]
    pub speech: Option<String>,
    /// Canned http/listen/agent/stream/transfer results (YAML, keyed by node name).
    #[arg(long, value_name = "FILE")]
    pub mock: Option<PathBuf>,
    /// Caller number.
    #[arg(long, default_value = crate::sim::DEFAULT_FROM)]
    pub from: String,
    /// Dialled number (default: the flow's first route).
    #[arg(long)]
    pub to: Option<String>,
    /// Hang up after this long (`max_duration`).
    #[arg(long, default_value = "10m")]
    pub max: String,
    /// Sound folder prompts resolve under (default: `sound/` beside the flow's folder).
    #[arg(long, value_name = "DIR")]
    pub sound: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let max = parse_duration(&args.max).with_context(|| format!("--max {}", args.max))?;
    let mut script = Vec::new();
    if let Some(s) = &args.dtmf {
        script.extend(parse_dtmf_script(s).context("--dtmf")?);
    }
    if let Some(s) = &args.speech {
        script.extend(parse_speech_script(s).context("--speech")?);
    }
    let mocks = match &args.mock {
        Some(path) => Mocks::load(path).with_context(|| format!("--mock {}", path.display()))?,
        None => Mocks::default(),
    };

    let compiled = load_file(
        &args.flow,
        &LoadOptions {
            sound_dir: args.sound.clone(),
            ..LoadOptions::default()
        },
    );
    for d in &compiled.diagnostics {
        eprintln!("{d}");
    }
    let Some(program) = compiled.program else {
        return Ok(ExitCode::from(1));
    };

    let program = Arc::new(program);
    // The environment as `phonetree run` sees it: the process's plus `./.env`.
    let dotenv = std::path::Path::new(".env");
    let env = crate::config::layer::process_env(dotenv.is_file().then_some(dotenv));
    let info = call_info(&program, "sim-1", &args.from, args.to.as_deref(), |name| {
        env.get(name).cloned()
    });
    let mut sim =
        Sim::new(program, info, FileLengths::default(), mocks, Instant::now()).with_max(max);
    for s in script {
        sim.schedule(s.at, s.input);
    }
    sim.answer();
    sim.run_to_end();

    let mut out = BufWriter::new(std::io::stdout().lock());
    for e in sim.events() {
        writeln!(out, "{}", e.to_json_line())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
