//! `phonetree calls`: the call register for people without the dashboard. `list` (filters,
//! newest first), `show ID` (the record and its timeline), `export --csv` (every matching call,
//! paged through the database).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::dbopen::{self, ConfigArg};
use crate::db::calls::{CallFilter, CallRecord, Direction, TimelineEvent, MAX_PAGE};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List calls, newest first.
    List(ListArgs),
    /// Show one call: its record and timeline.
    Show(ShowArgs),
    /// Export calls as CSV (all that match the filters).
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(subcommand)]
    pub command: Command,
}

/// Filters shared by `list` and `export`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Filters {
    /// `inbound` or `outbound`.
    #[arg(long)]
    pub direction: Option<String>,
    /// Part of the caller's or the called number.
    #[arg(long)]
    pub number: Option<String>,
    /// Flow name.
    #[arg(long)]
    pub flow: Option<String>,
    /// Created at or after: 2025-01-02T03:04:05Z, 2025-01-02, or an age (2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Created before (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Outbound job id.
    #[arg(long)]
    pub job: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// At most this many (default 50).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// The page after this id (the last id of the previous page).
    #[arg(long)]
    pub before: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub id: String,
    /// The record and timeline as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// CSV (the only format; the flag makes the format explicit).
    #[arg(long)]
    pub csv: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let o = dbopen::open(&args.config)?;
    match args.command {
        Command::List(a) => {
            let mut f = filter(&a.filters)?;
            f.limit = a.limit.clamp(1, MAX_PAGE);
            f.before_id = a.before;
            let calls = o.rt.block_on(o.db.list_calls(&f))?;
            let mut out = std::io::stdout().lock();
            if a.json {
                for c in &calls {
                    writeln!(out, "{}", serde_json::to_string(c)?)?;
                }
            } else {
                write!(out, "{}", table(&calls))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show(a) => {
            let Some(call) = o.rt.block_on(o.db.get_call(&a.id))? else {
                eprintln!("no call {}", a.id);
                return Ok(ExitCode::from(1));
            };
            let timeline = o.rt.block_on(o.db.call_timeline(&a.id))?;
            let mut out = std::io::stdout().lock();
            if a.json {
                let v = serde_json::json!({"call": call, "timeline": timeline});
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                write!(out, "{}", show(&call, &timeline))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(a) => {
            let mut f = filter(&a.filters)?;
            f.limit = MAX_PAGE;
            let mut w: Box<dyn Write> = match &a.output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            writeln!(w, "{}", CSV_HEADER.join(","))?;
            let mut n = 0usize;
            loop {
                let page = o.rt.block_on(o.db.list_calls(&f))?;
                for c in &page {
                    writeln!(w, "{}", csv_row(c))?;
                }
                n += page.len();
                match page.last() {
                    Some(last) if page.len() == MAX_PAGE as usize => {
                        f.before_id = Some(last.id.clone())
                    }
                    _ => break,
                }
            }
            w.flush()?;
            if a.output.is_some() {
                eprintln!("{n} calls exported");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn filter(f: &Filters) -> anyhow::Result<CallFilter> {
    let now = crate::db::now_ms();
    let time = |s: &Option<String>| -> anyhow::Result<Option<i64>> {
        s.as_deref()
            .map(|s| dbopen::parse_time(s, now).map_err(|e| anyhow::anyhow!(e)))
            .transpose()
    };
    let direction = match f.direction.as_deref() {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| anyhow::anyhow!("--direction: `{d}` is not inbound or outbound"))?,
        ),
    };
    Ok(CallFilter {
        direction,
        number: f.number.clone(),
        flow: f.flow.clone(),
        since_ms: time(&f.since)?,
        until_ms: time(&f.until)?,
        job_id: f.job.clone(),
        ..CallFilter::default()
    })
}

fn secs(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

/// The `list` table.
pub fn table(calls: &[CallRecord]) -> String {
    let mut rows = vec![[
        "ID",
        "STARTED (UTC)",
        "DIR",
        "FROM",
        "TO",
        "FLOW",
        "DURATION",
        "END",
        "KEYS",
    ]
    .map(String::from)
    .to_vec()];
    for c in calls {
        rows.push(vec![
            c.id.clone(),
            dbopen::rfc3339(c.created_ms)[..19].replace('T', " "),
            c.direction.as_str().into(),
            c.from.clone(),
            c.to.clone(),
            c.flow.clone().unwrap_or_else(|| "-".into()),
            secs(c.duration_ms),
            c.end_reason.clone().unwrap_or_else(|| "(live)".into()),
            if c.dtmf.is_empty() {
                "-".into()
            } else {
                c.dtmf.clone()
            },
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The `show` text: the record, then the timeline in seconds from the answer (as `simulate`
/// counts; negative before it).
pub fn show(c: &CallRecord, timeline: &[TimelineEvent]) -> String {
    let mut s = String::new();
    let rel = |ms: Option<i64>| {
        ms.map_or_else(
            || "-".into(),
            |t| format!("+{:.3}s", (t - c.created_ms) as f64 / 1000.0),
        )
    };
    s.push_str(&format!(
        "call {}  {}  {} -> {}\n",
        c.id,
        c.direction.as_str(),
        c.from,
        c.to
    ));
    s.push_str(&format!(
        "node {}  flow {} ({})  account {}\n",
        c.node_id,
        c.flow.as_deref().unwrap_or("-"),
        c.flow_version.as_deref().unwrap_or("-"),
        c.account.as_deref().unwrap_or("-")
    ));
    s.push_str(&format!(
        "created {}  ringing {}  answered {}  ended {}  duration {}\n",
        dbopen::rfc3339(c.created_ms),
        rel(c.ringing_ms),
        rel(c.answered_ms),
        rel(c.ended_ms),
        secs(c.duration_ms)
    ));
    s.push_str(&format!(
        "end {}  SIP {}  codec {}\n",
        c.end_reason.as_deref().unwrap_or("(live)"),
        c.sip_status.map_or_else(|| "-".into(), |v| v.to_string()),
        c.codec.as_deref().unwrap_or("-")
    ));
    s.push_str(&format!(
        "keys {}  themes {}  nodes {}\n",
        if c.dtmf.is_empty() { "-" } else { &c.dtmf },
        if c.themes.is_empty() {
            "-".into()
        } else {
            c.themes.join(", ")
        },
        if c.nodes.is_empty() {
            "-".into()
        } else {
            c.nodes.join(" -> ")
        },
    ));
    if let (Some(job), Some(attempt)) = (&c.job_id, c.attempt) {
        s.push_str(&format!("job {job}  attempt {attempt}\n"));
    }
    if !c.vars.is_empty() {
        s.push_str(&format!("vars {}\n", Value::Object(c.vars.clone())));
    }
    let base = c.answered_ms.map_or(0, |a| a - c.created_ms);
    s.push_str("timeline (seconds from the answer):\n");
    for e in timeline {
        let mut fields = e.data.clone();
        if let Value::Object(m) = &mut fields {
            m.remove("event");
        }
        let fields = match &fields {
            Value::Object(m) if m.is_empty() => String::new(),
            v => v.to_string(),
        };
        s.push_str(&format!(
            "  {:>9.3}  {:<14} {}\n",
            (e.at_ms - base) as f64 / 1000.0,
            e.kind,
            fields
        ));
    }
    s
}

const CSV_HEADER: &[&str] = &[
    "id",
    "node_id",
    "direction",
    "from",
    "to",
    "account",
    "flow",
    "flow_version",
    "created",
    "ringing",
    "answered",
    "ended",
    "duration_ms",
    "end_reason",
    "sip_status",
    "codec",
    "dtmf",
    "themes",
    "nodes",
    "vars",
    "job_id",
    "attempt",
];

fn csv_row(c: &CallRecord) -> String {
    let t = |ms: Option<i64>| ms.map(dbopen::rfc3339).unwrap_or_default();
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let fields = [
        c.id.clone(),
        c.node_id.clone(),
        c.direction.as_str().into(),
        c.from.clone(),
        c.to.clone(),
        o(&c.account),
        o(&c.flow),
        o(&c.flow_version),
        dbopen::rfc3339(c.created_ms),
        t(c.ringing_ms),
        t(c.answered_ms),
        t(c.ended_ms),
        c.duration_ms.map(|v| v.to_string()).unwrap_or_default(),
        o(&c.end_reason),
        c.sip_status.map(|v| v.to_string()).unwrap_or_default(),
        o(&c.codec),
        c.dtmf.clone(),
        c.themes.join("|"),
        c.nodes.join("|"),
        if c.vars.is_empty() {
            String::new()
        } else {
            Value::Object(c.vars.clone()).to_string()
        },
        o(&c.job_id),
        c.attempt.map(|v| v.to_string()).unwrap_or_default(),
    ];
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4180 quoting; a value a spreadsheet would run as a formula (`=`, `@`, or `+`/`-`
/// not followed by a number) gets a leading `'`. Phone numbers like `+4930…` stay as they are.
pub fn csv_field(v: &str) -> String {
    let formula = match v.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !v[1..].chars().all(|c| c.is_ascii_digit() || c == ' '),
        _ => false,
    };
    let v = if formula {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) || formula {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec() -> CallRecord {
        let mut c = CallRecord::new(
            "01ABC".into(),
            "n1",
            Direction::Inbound,
            "+15550001",
            "5000",
            1_700_000_000_000,
        );
        c.answered_ms = Some(1_700_000_000_020);
        c.ended_ms = Some(1_700_000_002_020);
        c.duration_ms = Some(2000);
        c.flow = Some("menu".into());
        c.end_reason = Some("caller_hangup".into());
        c.dtmf = "1".into();
        c.nodes = vec!["menu".into(), "bye".into()];
        c
    }

    #[test]
    fn csv_quotes_and_defuses_formulas_but_keeps_numbers() {
        assert_eq!(csv_field("+4930123"), "+4930123");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
        assert_eq!(csv_field("+x"), "\"'+x\"");
        let row = csv_row(&rec());
        assert!(
            row.starts_with("01ABC,n1,inbound,+15550001,5000,,menu,,2023-11-14T22:13:20.000Z"),
            "{row}"
        );
        assert_eq!(row.split(',').count(), CSV_HEADER.len());
    }

    #[test]
    fn show_counts_from_the_answer_like_simulate() {
        let tl = vec![
            TimelineEvent {
                seq: 0,
                at_ms: 0,
                kind: "invite".into(),
                data: json!({"event":"invite"}),
            },
            TimelineEvent {
                seq: 1,
                at_ms: 20,
                kind: "answer".into(),
                data: json!({"event":"answer","flow":"menu"}),
            },
            TimelineEvent {
                seq: 2,
                at_ms: 1020,
                kind: "dtmf".into(),
                data: json!({"event":"dtmf","digit":"1"}),
            },
        ];
        let text = show(&rec(), &tl);
        assert!(text.contains("    -0.020  invite"), "{text}");
        assert!(
            text.contains("     1.000  dtmf           {\"digit\":\"1\"}"),
            "{text}"
        );
        assert!(text.contains("nodes menu -> bye"), "{text}");
        let t = table(&[rec()]);
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .contains("2023-11-14 22:13:20  inbound  +15550001"),
            "{t}"
        );
    }
}
