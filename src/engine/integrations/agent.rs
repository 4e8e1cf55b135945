//! The `openai` voice agent as a call's integration: the call's [`AudioPort`] adapted to the
//! agent pump ([`crate::engine::agent::pump`]), the node's request turned into a session with
//! the server's `openai.*` defaults, and preparation ahead of the node.
//!
//! Preparation: when the driver says a flow will soon reach an agent ([`prepare`], at the call's
//! start or during the play before the node), the pump is started at once with the request as it
//! renders then: it connects and sends `session.update`, and waits (at most
//! [`PREPARED_TTL`](crate::engine::agent::pump::PREPARED_TTL)) for its node. [`run`] adopts it
//! when the node starts (same model — it is in the URL — and not failed), sending the final
//! configuration and the call's audio; otherwise it connects afresh. One prepared session per
//! call at most; a newer one replaces it.
//!
//! Errors become the node's `on_error`: no API key (at once, without connecting), a refused
//! key, no connection, a server error, a dropped socket, no answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::tasks::Ctx;
use super::{Control, Done};
use crate::config::openai::{ApiKey, OpenAiConfig};
use crate::engine::agent::bridge;
use crate::engine::agent::pump::{self, AudioIn, CallAudio, Ctl, Endpoint, Failure, PlayoutItem};
use crate::engine::agent::session_config;
use crate::engine::audio_port::{AudioFormat, AudioFrame, AudioPort, PortEvent, TrySendError};
use crate::engine::rt::AbortOnDrop;
use crate::machine::io::{AgentOutcome, AgentRequest};
use crate::media::g711::Law;
use crate::realtime::SessionConfig;

/// What the integration needs from the server.
#[derive(Clone)]
pub struct AgentDeps {
    pub openai: Arc<OpenAiConfig>,
    pub http: reqwest::Client,
}

/// The failure when no key is configured.
pub const NO_KEY: &str = "OPENAI_API_KEY is not set (openai.api_key): agent nodes need it";

/// A session connected ahead of its node.
pub struct Prepared {
    model: String,
    ctl: mpsc::Sender<Ctl>,
    result: oneshot::Receiver<Result<AgentOutcome, Failure>>,
    _task: AbortOnDrop,
}

/// Starts connecting the agent `req` asks for (with the call's current audio format), if
/// this server prepares agents (`openai.preconnect`) and has a key.
pub fn prepare(
    req: &AgentRequest,
    deps: &AgentDeps,
    format: AudioFormat,
    label: &str,
) -> Option<Prepared> {
    if req.provider != crate::flow::program::AgentProvider::OpenAi || !deps.openai.preconnect {
        return None;
    }
    let key = deps.openai.api_key.clone()?;
    let cfg = session_config(
        req,
        &deps.openai,
        bridge::format_for(format.g711, format.rate),
    );
    tracing::debug!(call = %label, model = %cfg.model, "agent: preparing the session");
    Some(Prepared::spawn(deps, key, cfg, label))
}

impl Prepared {
    /// Starts the pump for `cfg` on the agents' runtime: it connects at once.
    fn spawn(deps: &AgentDeps, key: ApiKey, cfg: SessionConfig, label: &str) -> Prepared {
        let model = cfg.model.clone();
        let endpoint = Endpoint {
            url: deps.openai.realtime_url(&model),
            key,
            connect_timeout: deps.openai.connect_timeout,
            http: deps.http.clone(),
            label: label.into(),
        };
        let (ctl, ctl_rx) = mpsc::channel(16);
        let (result_tx, result) = oneshot::channel();
        let task = crate::engine::agent::runtime::spawn(async move {
            let _ = result_tx.send(pump::run(endpoint, cfg, ctl_rx).await);
        });
        Prepared {
            model,
            ctl,
            result,
            _task: AbortOnDrop(task),
        }
    }
}

/// Runs an agent node's session on the call's audio until it ends.
pub async fn run(
    ctx: Ctx,
    req: Box<AgentRequest>,
    deps: AgentDeps,
    prepared: Option<Prepared>,
    label: String,
) -> Done {
    let id = ctx.id;
    let fail = |why: String| Done::Agent {
        id,
        result: Err(why),
    };
    let Some(key) = deps.openai.api_key.clone() else {
        tracing::warn!(call = %label, "agent: {NO_KEY}");
        return fail(NO_KEY.into());
    };
    let Some(port) = ctx.audio else {
        return fail("the agent needs the caller's audio".into());
    };
    let format = port.format();
    let cfg = session_config(
        &req,
        &deps.openai,
        bridge::format_for(format.g711, format.rate),
    );
    let audio: Box<dyn CallAudio> = Box::new(PortAudio { port });
    // Adopt the prepared session when it is for this model and still alive.
    let Prepared {
        ctl, result, _task, ..
    } = match prepared.filter(|p| p.model == cfg.model) {
        Some(p) => {
            tracing::debug!(call = %label, "agent: using the prepared session");
            p
        }
        None => Prepared::spawn(&deps, key, cfg.clone(), &label),
    };
    if ctl
        .send(Ctl::Start {
            cfg: Box::new(cfg),
            audio,
        })
        .await
        .is_err()
    {
        // The prepared task has already ended: its result says why.
    }
    let mut control = ctx.control;
    tokio::pin!(result);
    loop {
        tokio::select! {
            r = &mut result => {
                return Done::Agent {
                    id,
                    result: match r {
                        Ok(Ok(o)) => Ok(o),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("the agent task ended".into()),
                    },
                };
            }
            c = control.recv() => match c {
                Some(Control::Dtmf(d)) => {
                    let _ = ctl.send(Ctl::Dtmf(d)).await;
                }
                Some(Control::Finish) => {}
                // The call cancelled the request: dropping `ctl` ends the pump.
                None => return fail("cancelled".into()),
            },
        }
    }
}

/// The call's [`AudioPort`] as the pump's [`CallAudio`].
struct PortAudio {
    port: AudioPort,
}

impl CallAudio for PortAudio {
    fn rate(&self) -> u32 {
        self.port.format().rate
    }

    fn law(&self) -> Option<Law> {
        self.port.format().g711
    }

    fn try_push(&mut self, item: PlayoutItem) -> Result<(), PlayoutItem> {
        match item {
            PlayoutItem::Frame(samples) => match self.port.try_send(AudioFrame { samples }) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(f)) => Err(PlayoutItem::Frame(f.samples)),
                // Detached: the call is ending; nothing to queue.
                Err(TrySendError::Detached) => Ok(()),
            },
            PlayoutItem::Mark(m) => {
                if self.port.try_mark(m).is_ok() {
                    Ok(())
                } else {
                    Err(PlayoutItem::Mark(m))
                }
            }
        }
    }

    fn clear(&mut self) {
        self.port.clear();
    }

    fn next(&mut self, marks: bool) -> Pin<Box<dyn Future<Output = Option<AudioIn>> + Send + '_>> {
        Box::pin(async move {
            if marks {
                match self.port.next_event().await? {
                    PortEvent::Caller(f) => Some(AudioIn::Caller(f.samples)),
                    PortEvent::Mark(m, at) => Some(AudioIn::Mark(m, at)),
                }
            } else {
                self.port.recv().await.map(|f| AudioIn::Caller(f.samples))
            }
        })
    }

    fn take_mark(&mut self) -> Option<(u32, Instant)> {
        self.port.try_mark_reached()
    }
}
