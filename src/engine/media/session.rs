//! The [`MediaSession`] handle: what the SIP runtime holds for one call's media.
//!
//! The media itself (the RTP socket, the pacer, playout and receive state) is a
//! [`super::state::Session`] owned by one of the media workers ([`super::worker`]); the handle
//! only posts commands to it. Dropping the handle ends the session and frees its port.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::core::Command;
use super::latch::MediaPeer;
use super::ports::RtpSocket;
use super::prompts::PromptCache;
use super::state::{Session, Setup};
use super::worker::{self, Link, Msg};
use super::{MediaConfig, MediaEvent};
use crate::engine::audio_port::AudioTap;
use crate::flow::digit::Digit;
use crate::machine::io::{Media, RequestId};
use crate::sdp::Negotiated;

/// Handle to one call's media. Dropping it ends the session and frees the port.
#[derive(Debug)]
pub struct MediaSession {
    link: Link,
    local: SocketAddr,
}

impl MediaSession {
    /// Starts the media of a call whose SDP negotiation gave `neg`. `peer` says who the media
    /// belongs to: the SDP address, the signalling IP, whether the call is trusted or
    /// confirmed (see [`super::latch`]); RTP goes to the SDP address once that is verified,
    /// and to the caller's own source once its packets arrive (as `cfg.latching` allows). A
    /// bare `SocketAddr` is a verified peer at that address. Must be called inside a tokio
    /// runtime (prompt loads and streams run on it). Fails only if the media workers cannot
    /// start or the socket is unusable.
    pub async fn start(
        cfg: MediaConfig,
        socket: impl Into<RtpSocket>,
        peer: impl Into<MediaPeer>,
        neg: Negotiated,
        prompts: Arc<PromptCache>,
    ) -> io::Result<(MediaSession, mpsc::UnboundedReceiver<MediaEvent>)> {
        Self::open(cfg, socket, peer, neg, prompts)
    }

    /// [`MediaSession::start`] without the `async` (it never waits): for code that must not
    /// yield, such as a call leg deciding inside one `select!` arm.
    pub fn open(
        cfg: MediaConfig,
        socket: impl Into<RtpSocket>,
        peer: impl Into<MediaPeer>,
        neg: Negotiated,
        prompts: Arc<PromptCache>,
    ) -> io::Result<(MediaSession, mpsc::UnboundedReceiver<MediaEvent>)> {
        let RtpSocket { socket, lease } = socket.into();
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let link = worker::assign()?;
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let setup = Setup {
            cfg,
            socket,
            lease,
            peer: peer.into(),
            neg,
            prompts,
            events: ev_tx,
            runtime: tokio::runtime::Handle::current(),
        };
        let session = Session::new(setup, link.clone(), Instant::now());
        link.post(Msg::Open(Box::new(session)));
        Ok((MediaSession { link, local }, ev_rx))
    }

    /// Queues a prompt; it plays after those queued before it. `PlaybackFinished(id)` follows
    /// its last frame, or `PlaybackFailed` if it cannot be played.
    pub fn play(&self, id: RequestId, media: Media) {
        self.send(Command::Play(id, media));
    }

    /// Barge-in: drops the prompt (playing or queued); no frame of it is sent after the one
    /// in flight, and no event follows.
    pub fn stop(&self, id: RequestId) {
        self.send(Command::Stop(id));
    }

    /// Sends a key as RFC 4733 events (nothing if the peer has no telephone-event).
    pub fn send_dtmf(&self, digit: Digit) {
        self.send(Command::SendDtmf(digit));
    }

    /// A key the SIP layer received by INFO: merged with the RTP-borne ones.
    pub fn dtmf_from_info(&self, digit: Digit) {
        self.send(Command::InfoDigit(digit));
    }

    /// A re-INVITE changed the remote address, codec or direction.
    pub fn update_remote(&self, remote: SocketAddr, neg: Negotiated) {
        self.send(Command::UpdateRemote(remote, neg));
    }

    /// The dialog is confirmed (the ACK came): the SDP address counts as verified if it is the
    /// signalling IP (or the call is trusted), so sending can start before the caller's RTP.
    pub fn confirm(&self) {
        self.send(Command::Confirm);
    }

    /// On hold: nothing is sent and the RTP timeout is suspended.
    pub fn set_hold(&self, on: bool) {
        self.send(Command::Hold(on));
    }

    /// Connects an integration's audio port: the caller's decoded audio goes to it, and what
    /// it sends plays when no prompt is queued (see [`super::live`]).
    pub fn attach(&self, id: RequestId, tap: AudioTap) {
        self.send(Command::Attach(id, tap));
    }

    /// Disconnects it; whatever it still had queued is dropped.
    pub fn detach(&self, id: RequestId) {
        self.send(Command::Detach(id));
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn send(&self, c: Command) {
        self.link.post(Msg::Command(self.link.id(), c));
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        self.link.post(Msg::Close(self.link.id()));
    }
}
