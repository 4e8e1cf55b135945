//! The Twilio leg's connection task: the only owner of the websocket. One `select!` over
//! Twilio's next message, the driver's next command, prompt loads, a remote prompt's next
//! frames, the core's timer and the live-audio waker; after each, the core's outputs are
//! executed (messages written, events handed to the leg, prompts loaded).
//!
//! Bounded everywhere: messages over [`MAX_MESSAGE`] end the stream (tungstenite refuses
//! them), a write that Twilio does not take within [`SEND_TIMEOUT`] ends it, events towards the
//! driver wait on a bounded channel (the socket is not read meanwhile), a bad message is a log
//! line. REST calls (transfer, hangup) run in their own tasks with a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::core::{Out, TwilioCore};
use super::TwilioDeps;
use crate::engine::leg::{LegCmd, LegEnd, LegEvent};
use crate::engine::media::stream::{self, AbortOnDrop, StreamMsg};
use crate::engine::rt::sleep_opt;
use crate::machine::io::{Media, RequestId};
use crate::sdp::Codec;
use crate::wsmedia::twilio::{encode_to_twilio, parse_from_twilio, Start};

/// Largest websocket message accepted from Twilio (a 20 ms media message is ~400 bytes).
pub const MAX_MESSAGE: usize = 64 << 10;

/// How long a write may wait for Twilio to take it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames taken from a remote prompt's download per wake-up.
const STREAM_BATCH: usize = 25;

/// A load or REST call that finished.
enum Done {
    Prompt(
        RequestId,
        Result<Arc<[crate::engine::media::Frame]>, String>,
    ),
    Transfer(RequestId, Result<(), String>),
}

/// What woke the loop.
enum Wake {
    Twilio(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Cmd(Option<LegCmd>),
    Done(Done),
    Stream(RequestId, Option<StreamMsg>),
    Timer,
    Live,
}

/// The websocket configuration for a Twilio stream.
pub fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    crate::engine::ws_config::ws_config(MAX_MESSAGE)
}

struct Conn<S> {
    ws: WebSocketStream<S>,
    core: TwilioCore,
    events: mpsc::Sender<LegEvent>,
    deps: Arc<TwilioDeps>,
    stream_sid: String,
    call_sid: String,
    account_sid: String,
    done_tx: mpsc::UnboundedSender<Done>,
    streams: HashMap<RequestId, (mpsc::Receiver<StreamMsg>, AbortOnDrop)>,
    notify: Arc<Notify>,
    /// A transfer succeeded: the call is Twilio's again, a hangup must not end it.
    transferred: bool,
    bad_messages: u64,
}

pub(super) async fn run<S>(
    ws: WebSocketStream<S>,
    start: Start,
    mut cmds: mpsc::UnboundedReceiver<LegCmd>,
    events: mpsc::Sender<LegEvent>,
    deps: Arc<TwilioDeps>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut c = Conn {
        ws,
        core: TwilioCore::new(deps.core, Instant::now()),
        events,
        deps,
        stream_sid: start.stream_sid,
        call_sid: start.call_sid,
        account_sid: start.account_sid,
        done_tx,
        streams: HashMap::new(),
        notify: Arc::new(Notify::new()),
        transferred: false,
        bad_messages: 0,
    };
    let call = c.call_sid.clone();
    loop {
        if !c.flush().await {
            break;
        }
        let want = c.core.wants_stream();
        let wake = {
            let stream_rx = want.and_then(|id| c.streams.get_mut(&id).map(|(rx, _)| (id, rx)));
            let notify = c.notify.clone();
            tokio::select! {
                m = c.ws.next() => Wake::Twilio(m),
                cmd = cmds.recv() => Wake::Cmd(cmd),
                Some(d) = done_rx.recv() => Wake::Done(d),
                (id, msg) = async move {
                    match stream_rx {
                        Some((id, rx)) => (id, rx.recv().await),
                        None => std::future::pending().await,
                    }
                } => Wake::Stream(id, msg),
                () = sleep_opt(c.core.poll_timeout()) => Wake::Timer,
                () = notify.notified() => Wake::Live,
            }
        };
        let now = Instant::now();
        match wake {
            Wake::Twilio(m) => c.on_twilio(m, now),
            Wake::Cmd(None) => {
                // The call is over on our side (the leg was dropped).
                c.close().await;
                break;
            }
            Wake::Cmd(Some(LegCmd::Hangup)) => {
                c.hangup();
                c.close().await;
                break;
            }
            Wake::Cmd(Some(cmd)) => c.on_cmd(cmd, now),
            Wake::Done(Done::Prompt(id, r)) => c.core.loaded(id, r, now),
            Wake::Done(Done::Transfer(id, result)) => {
                c.transferred |= result.is_ok();
                if c.events
                    .send(LegEvent::TransferResult { id, result })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Wake::Stream(id, msg) => c.on_stream(id, msg, now),
            Wake::Timer => c.core.on_timeout(now),
            Wake::Live => c.core.wake(now),
        }
    }
    tracing::debug!(%call, "twilio stream task ended");
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Executes the core's outputs; `false` when the connection is over.
    async fn flush(&mut self) -> bool {
        while let Some(out) = self.core.poll_output() {
            match out {
                Out::Send(msg) => {
                    let text = encode_to_twilio(&msg, &self.stream_sid);
                    let sent =
                        tokio::time::timeout(SEND_TIMEOUT, self.ws.send(Message::text(text)));
                    if !matches!(sent.await, Ok(Ok(()))) {
                        tracing::warn!(call = %self.call_sid, "cannot write to Twilio: ending the leg");
                        let _ = self
                            .events
                            .send(LegEvent::Ended(LegEnd::Failed(
                                "the stream stopped taking audio".into(),
                            )))
                            .await;
                        return false;
                    }
                }
                Out::Event(ev) => {
                    if self.events.send(ev).await.is_err() {
                        self.close().await;
                        return false;
                    }
                }
                Out::Load { id, media } => self.load(id, media),
                Out::Unload(id) => {
                    self.streams.remove(&id);
                }
                Out::Close => {
                    self.close().await;
                    return false;
                }
            }
        }
        true
    }

    fn load(&mut self, id: RequestId, media: Media) {
        match media {
            Media::File(path) => {
                let prompts = self.deps.prompts.clone();
                let tx = self.done_tx.clone();
                tokio::spawn(async move {
                    let r = prompts
                        .get(&path, Codec::Pcmu)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Done::Prompt(id, r));
                });
            }
            Media::Url(url) => {
                let s = stream::spawn(url, Codec::Pcmu, &self.deps.stream);
                self.streams.insert(id, s);
            }
        }
    }

    fn on_twilio(
        &mut self,
        m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        now: Instant,
    ) {
        let text = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => return,
            Some(Ok(Message::Binary(_))) => return self.bad("a binary frame"),
            Some(Ok(Message::Close(_))) | None => {
                tracing::info!(call = %self.call_sid, "Twilio closed the stream");
                return self.end_remote(LegEnd::Remote);
            }
            Some(Err(e)) => {
                tracing::info!(call = %self.call_sid, error = %e, "the stream broke");
                return self.end_remote(LegEnd::Remote);
            }
        };
        match parse_from_twilio(text.as_str()) {
            Ok(msg) => self.core.on_message(msg, now),
            Err(e) => self.bad(&e.to_string()),
        }
    }

    /// A message we cannot read: logged (rate-limited by count), never fatal.
    fn bad(&mut self, why: &str) {
        self.bad_messages += 1;
        if self.bad_messages <= 10 || self.bad_messages.is_power_of_two() {
            tracing::warn!(call = %self.call_sid, count = self.bad_messages, error = %why,
                "unreadable message from Twilio ignored");
        }
    }

    /// The socket is gone: the leg ends (the core queues `Ended` and `Close`).
    fn end_remote(&mut self, how: LegEnd) {
        if !self.core.is_ended() {
            self.core
                .on_message(crate::wsmedia::twilio::FromTwilio::Stop, Instant::now());
            if how != LegEnd::Remote {
                tracing::debug!(call = %self.call_sid, reason = %how, "stream ended");
            }
        }
    }

    fn on_cmd(&mut self, cmd: LegCmd, now: Instant) {
        match cmd {
            LegCmd::Play { id, media } => self.core.play(id, media, now),
            LegCmd::Stop { id } => self.core.stop(id, now),
            LegCmd::SendDtmf(d) => self.core.send_dtmf(d, now),
            LegCmd::AttachAudio { id, tap } => {
                let notify = self.notify.clone();
                tap.live.set_waker(Box::new(move || notify.notify_one()));
                self.core.attach(id, tap);
            }
            LegCmd::DetachAudio { id } => self.core.detach(id),
            LegCmd::Transfer { id, target } => self.transfer(id, target),
            // Handled by the loop (it ends the task).
            LegCmd::Hangup => {}
        }
    }

    fn transfer(&mut self, id: RequestId, target: String) {
        let tx = self.done_tx.clone();
        let Some(rest) = self.deps.rest.clone() else {
            tracing::warn!(call = %self.call_sid,
                "transfer: no Twilio credentials (twilio.auth_token): cannot transfer");
            let _ = tx.send(Done::Transfer(
                id,
                Err("no Twilio credentials (twilio.auth_token): cannot transfer".into()),
            ));
            return;
        };
        let (account, call) = (self.account_sid.clone(), self.call_sid.clone());
        tokio::spawn(async move {
            let result = rest.transfer(&account, &call, &target).await;
            if let Err(e) = &result {
                tracing::warn!(%call, error = %e, "Twilio transfer failed");
            }
            let _ = tx.send(Done::Transfer(id, result));
        });
    }

    /// Ends the call at Twilio (REST) unless it was transferred away or there are no
    /// credentials; the stream is closed either way.
    fn hangup(&mut self) {
        let Some(rest) = self.deps.rest.clone() else {
            return;
        };
        if self.transferred {
            return;
        }
        let (account, call) = (self.account_sid.clone(), self.call_sid.clone());
        tokio::spawn(async move {
            if let Err(e) = rest.hangup(&account, &call).await {
                tracing::warn!(%call, error = %e, "Twilio hangup failed (the stream is closed anyway)");
            }
        });
    }

    fn on_stream(&mut self, id: RequestId, msg: Option<StreamMsg>, now: Instant) {
        let mut frames = Vec::new();
        let mut end = None;
        let mut next = msg;
        loop {
            match next {
                Some(StreamMsg::Frame(f)) => frames.push(f),
                Some(StreamMsg::End) | None => end = Some(Ok(())),
                Some(StreamMsg::Failed(e)) => end = Some(Err(e.to_string())),
            }
            if end.is_some() || frames.len() >= STREAM_BATCH {
                break;
            }
            next = match self.streams.get_mut(&id).map(|(rx, _)| rx.try_recv()) {
                Some(Ok(m)) => Some(m),
                _ => break,
            };
        }
        if !frames.is_empty() {
            self.core.stream_frames(id, frames, now);
        }
        if let Some(result) = end {
            self.streams.remove(&id);
            self.core.stream_end(id, result, now);
        }
    }

    async fn close(&mut self) {
        self.streams.clear();
        let _ = tokio::time::timeout(SEND_TIMEOUT, self.ws.close(None)).await;
    }
}
