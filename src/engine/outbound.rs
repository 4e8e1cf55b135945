//! The outbound dialler's hands in `phonetree run`: [`EnginePlacer`] places a job's call over
//! SIP (or sends its SMS) and reports how the attempt ended.
//!
//! A call goes through an account: `account` names one (its username, `username@registrar`,
//! or its position `0`, `1`…), default the first. A number becomes `sip:<number>@<registrar
//! domain>` sent to the account's outbound proxy or registrar with its credentials (digest on
//! 401/407), From `sip:<from or username>@<domain>`. A `sip:` URI without an `account` is
//! called directly at its host. Once answered the flow runs on the same call driver as an
//! inbound call, with `call.direction = outbound` and the job's `vars` (the built-in message
//! flow gets the text as `vars.message`); `ack` marks reach the job as they happen.
//!
//! Not owned here: when to call and what an outcome means for the job (`outbound::dialler`,
//! `outbound::plan`), the SIP of it (`sip::dial`, `engine::leg::sip`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::call::{self, deps::CallDeps};
use super::leg::sip::{DialTimes, OutboundCall, SipDeps, SipLeg};
use super::leg::Leg;
use super::pii::Pii;
use crate::config::Account;
use crate::flow::digit::Digit;
use crate::flow::program::{Mark, Program};
use crate::machine::io::{CallInfo, Direction};
use crate::outbound::dialler::{AttemptReport, BoxFut, MarkSink, Placer};
use crate::outbound::message;
use crate::outbound::plan::AttemptOutcome;
use crate::outbound::request::{CallRequest, Content};
use crate::register::CallRecorder;
use crate::registry::Registry;
use crate::sip::digest::Credentials;
use crate::sms::{self, SmsConfig};

/// What the placer needs from the server.
pub struct EnginePlacer {
    pub sip: Arc<SipDeps>,
    pub calls: Arc<CallDeps>,
    pub registry: Arc<Registry>,
    pub accounts: Vec<Account>,
    pub sms: Option<SmsConfig>,
    pub http: reqwest::Client,
}

/// Why an attempt could not start (stored as the attempt's detail, outcome `refused`).
fn refused(why: impl Into<String>) -> AttemptReport {
    AttemptReport {
        outcome: AttemptOutcome::Refused.as_str().into(),
        detail: Some(why.into()),
        ..AttemptReport::default()
    }
}

impl Placer for EnginePlacer {
    fn call(
        &self,
        job: &str,
        attempt: u32,
        req: &CallRequest,
        contact: usize,
        on_mark: MarkSink,
    ) -> BoxFut<'static, AttemptReport> {
        let planned = self.plan(req, contact);
        let (sip, calls, job) = (self.sip.clone(), self.calls.clone(), job.to_string());
        let program = self.program(req);
        let vars = vars_of(req);
        let account = self
            .account(req.account.as_deref())
            .ok()
            .flatten()
            .map(|a| a.username.clone());
        Box::pin(async move {
            let (out, program) = match (planned, program) {
                (Ok(p), Ok(prog)) => (p, prog),
                (Err(why), _) | (_, Err(why)) => return refused(why),
            };
            let out = match out.resolve().await {
                Ok(o) => o,
                Err(why) => {
                    return AttemptReport {
                        outcome: "failed".into(),
                        detail: Some(why),
                        ..AttemptReport::default()
                    }
                }
            };
            tracing::info!(%job, to = %Pii(&out.to), "outbound call");
            let from = crate::sip::message::uri_user(&out.from_uri)
                .unwrap_or(&out.from_uri)
                .to_string();
            let mut rec = CallRecorder::start(
                &calls.register,
                crate::db::calls::Direction::Outbound,
                &from,
                &out.to,
                Instant::now(),
            );
            rec.set_flow(&program.name, program.short_hash());
            rec.set_job(&job, attempt);
            if let Some(a) = &account {
                rec.set_account(a);
            }
            place(sip, calls, out, program, vars, rec, on_mark).await
        })
    }

    fn sms(&self, job: &str, to: &str, text: &str) -> BoxFut<'static, AttemptReport> {
        let (cfg, http) = (self.sms.clone(), self.http.clone());
        let (job, to, text) = (job.to_string(), to.to_string(), text.to_string());
        Box::pin(async move {
            let Some(cfg) = cfg else {
                return refused("no SMS provider configured (sms.provider)");
            };
            let r = sms::send(&http, &cfg, &to, &text).await;
            tracing::info!(%job, to = %Pii(&to), outcome = r.outcome, "SMS");
            AttemptReport {
                outcome: r.outcome.into(),
                sip_status: None,
                detail: Some(r.detail),
                call_id: None,
            }
        })
    }
}

/// A call before its next hop is looked up.
struct Planned {
    call: OutboundCall,
    /// `host:port` to look up when `call.next_hop` is not known yet.
    lookup: Option<String>,
}

impl Planned {
    async fn resolve(mut self) -> Result<OutboundCall, String> {
        if let Some(hostport) = self.lookup.take() {
            let mut found = tokio::net::lookup_host(hostport.as_str())
                .await
                .map_err(|e| format!("cannot resolve {hostport}: {e}"))?;
            self.call.next_hop = found
                .next()
                .ok_or_else(|| format!("{hostport} has no address"))?;
        }
        Ok(self.call)
    }
}

impl EnginePlacer {
    fn account(&self, name: Option<&str>) -> Result<Option<&Account>, String> {
        let Some(name) = name else {
            return Ok(self.accounts.first());
        };
        self.accounts
            .iter()
            .enumerate()
            .find(|(i, a)| {
                name == i.to_string()
                    || name == a.username
                    || name == format!("{}@{}", a.username, a.registrar)
            })
            .map(|(_, a)| Some(a))
            .ok_or_else(|| format!("no account named `{name}`"))
    }

    fn plan(&self, req: &CallRequest, contact: usize) -> Result<Planned, String> {
        let to = req
            .to
            .get(contact)
            .ok_or("no such contact in the chain")?
            .clone();
        let is_uri = to.to_ascii_lowercase().starts_with("sip");
        let account = if is_uri && req.account.is_none() {
            None
        } else {
            self.account(req.account.as_deref())?
        };
        let ring_timeout = Duration::from_millis(req.ring_timeout_ms);
        match account {
            Some(a) => {
                let domain = a.registrar.to_string();
                let hop = a.outbound_proxy.as_ref().unwrap_or(&a.registrar);
                let target = if is_uri {
                    to.clone()
                } else {
                    format!("sip:{to}@{domain}")
                };
                let from_uri = match &req.from {
                    Some(f) if f.to_ascii_lowercase().starts_with("sip") => f.clone(),
                    Some(f) => format!("sip:{f}@{domain}"),
                    None => format!("sip:{}@{domain}", a.username),
                };
                Ok(Planned {
                    call: OutboundCall {
                        target,
                        to,
                        from_uri,
                        from_display: None,
                        next_hop: SocketAddr::from(([0, 0, 0, 0], 0)),
                        transport: a.transport,
                        route: Vec::new(),
                        credentials: Some(Credentials {
                            username: a
                                .auth_username
                                .clone()
                                .unwrap_or_else(|| a.username.clone()),
                            password: a.password.clone(),
                        }),
                        ring_timeout,
                    },
                    lookup: Some(format!(
                        "{}:{}",
                        hop.host.trim_matches(['[', ']']),
                        hop.port.unwrap_or(a.transport.default_port())
                    )),
                })
            }
            None if is_uri => {
                let here = self.sip.sip_addr;
                let from_uri = match &req.from {
                    Some(f) if f.to_ascii_lowercase().starts_with("sip") => f.clone(),
                    Some(f) => format!("sip:{f}@{here}"),
                    None => format!("sip:phonetree@{here}"),
                };
                let direct = crate::sip::message::uri_socket_addr(&to);
                let transport =
                    crate::sip::Transport::of_uri(&to).unwrap_or(crate::sip::Transport::Udp);
                let lookup = match direct {
                    Some(_) => None,
                    None => Some(host_port_of(&to).ok_or("the SIP URI has no host")?),
                };
                Ok(Planned {
                    call: OutboundCall {
                        target: to.clone(),
                        to,
                        from_uri,
                        from_display: None,
                        next_hop: direct.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                        transport,
                        route: Vec::new(),
                        credentials: None,
                        ring_timeout,
                    },
                    lookup,
                })
            }
            None => Err("no account configured to call numbers through (accounts)".into()),
        }
    }

    fn program(&self, req: &CallRequest) -> Result<Arc<Program>, String> {
        match &req.content {
            Content::Message {
                ack_key, repeat, ..
            } => {
                let key = Digit::from_char(*ack_key).ok_or("bad ack_key")?;
                Ok(message::program(key, *repeat))
            }
            Content::Flow { flow } => self
                .registry
                .snapshot()
                .flows
                .iter()
                .filter_map(|e| e.program.clone())
                .find(|p| p.name == *flow)
                .ok_or_else(|| format!("no flow named `{flow}` is loaded")),
        }
    }
}

/// `sip:user@host:port;params` → `host:port` (5060 by default, 5061 for `sips:` and
/// `;transport=tls`).
fn host_port_of(uri: &str) -> Option<String> {
    let default = crate::sip::Transport::of_uri(uri)
        .unwrap_or(crate::sip::Transport::Udp)
        .default_port();
    let rest = uri.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = rest.split([';', '?']).next()?;
    if hostport.is_empty() {
        return None;
    }
    if hostport.contains(':') && !hostport.ends_with(']') {
        Some(hostport.to_string())
    } else {
        Some(format!("{hostport}:{default}"))
    }
}

fn vars_of(req: &CallRequest) -> BTreeMap<String, serde_json::Value> {
    let mut vars: BTreeMap<String, serde_json::Value> = req
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Content::Message { text, .. } = &req.content {
        vars.insert("message".into(), serde_json::Value::String(text.clone()));
    }
    vars
}

/// Dials, waits for the answer, runs the flow; how it ended.
async fn place(
    sip: Arc<SipDeps>,
    calls: Arc<CallDeps>,
    out: OutboundCall,
    program: Arc<Program>,
    vars: BTreeMap<String, serde_json::Value>,
    mut rec: CallRecorder,
    on_mark: MarkSink,
) -> AttemptReport {
    let call_id = rec.id().to_string();
    let not_connected = |d: crate::sip::event::DialEnd, times: DialTimes, mut rec: CallRecorder| {
        if let Some(at) = times.ringing {
            rec.ringing(at);
        }
        let id = rec.id().to_string();
        rec.end(Instant::now(), d.outcome.as_str(), d.status);
        AttemptReport {
            outcome: d.outcome.as_str().into(),
            sip_status: d.status,
            detail: Some(d.reason),
            call_id: Some(id),
        }
    };
    let to = out.to.clone();
    let mut times = DialTimes::default();
    let mut leg = match SipLeg::dial(sip, out).await {
        Ok(l) => l,
        Err(d) => return not_connected(d, times, rec),
    };
    if let Err(d) = leg.connect(&mut times).await {
        return not_connected(d, times, rec);
    }
    if let Some(at) = times.ringing {
        rec.ringing(at);
    }
    let leg_info = leg.info().clone();
    let env = program.env_values(|k| calls.site.env.get(k));
    let info = CallInfo {
        id: leg_info.id.clone(),
        from: leg_info.from.clone(),
        to,
        env,
        direction: Direction::Outbound,
        vars,
        params: Default::default(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = call::run_answered(calls, Leg::Sip(leg), program, info, rec, tx);
    tokio::pin!(run);
    let (mut acknowledged, mut heard) = (false, false);
    let mut seen = |m: Mark| {
        match m {
            Mark::Acknowledged => acknowledged = true,
            Mark::Heard => heard = true,
        }
        on_mark(m);
    };
    loop {
        tokio::select! {
            () = &mut run => break,
            Some(m) = rx.recv() => seen(m),
        }
    }
    while let Ok(m) = rx.try_recv() {
        seen(m);
    }
    AttemptReport {
        outcome: AttemptOutcome::Answered {
            acknowledged,
            heard,
        }
        .as_str()
        .into(),
        sip_status: Some(200),
        detail: None,
        call_id: Some(call_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_uris() {
        assert_eq!(
            host_port_of("sip:a@pbx.example.com").as_deref(),
            Some("pbx.example.com:5060")
        );
        assert_eq!(
            host_port_of("sip:a@pbx:5070;transport=udp").as_deref(),
            Some("pbx:5070")
        );
        assert_eq!(
            host_port_of("sip:pbx.example.com").as_deref(),
            Some("pbx.example.com:5060")
        );
        assert_eq!(host_port_of("sip:a@").as_deref(), None);
        // TLS targets default to 5061.
        assert_eq!(
            host_port_of("sips:a@pbx.example.com").as_deref(),
            Some("pbx.example.com:5061")
        );
        assert_eq!(
            host_port_of("sip:a@pbx.example.com;transport=tls").as_deref(),
            Some("pbx.example.com:5061")
        );
    }
}
