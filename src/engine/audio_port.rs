//! The caller's audio for integrations: an [`AudioPort`] (what agents, recognizers, recorders
//! and bot streams hold) and its leg-side half, an [`AudioTap`], made together by [`pair`].
//!
//! Both directions carry 20 ms frames of 16-bit mono PCM at the port's [`AudioFormat::rate`]
//! (8 kHz on G.711 calls, 16 kHz on Opus calls; the leg decides, the integration resamples if
//! it needs another rate):
//!
//! - **caller → integration**: the leg decodes what the caller sends and offers each frame with
//!   [`CallerSink::offer`]. The channel is bounded and the leg never waits: when the
//!   integration is behind, the frame is dropped and counted ([`AudioPort::dropped`]). A media
//!   worker is never blocked by an integration.
//! - **integration → caller**: [`AudioPort::send`] queues frames (waiting while the queue is
//!   full: backpressure on the integration, not the leg). The leg paces them out on its own
//!   clock through a [`LiveSource`]: a small prebuffer absorbs jitter, an underrun mid-talkspurt
//!   is filled with silence, a long one ends the talkspurt. [`AudioPort::clear`] drops
//!   everything queued at once (barge-in: cut where the caller is, not where the integration
//!   is), and [`AudioPort::mark`] asks to be told when the audio queued before it has been
//!   played ([`AudioPort::next_mark`]); marks still queued at a `clear` are reported at once, as
//!   Twilio does. [`AudioPort::played`] is how much live audio has reached the caller.
//!
//! Dropping the port detaches the integration; dropping the tap (the call ended, or the
//! request was detached) makes [`AudioPort::recv`] return `None` and `send` fail.
//!
//! Hand-written rather than a crate: it is two bounded tokio channels plus three counters; the
//! logic that matters (prebuffer, clear by epoch, mark echo) is [`LiveSource`], which is
//! deterministic and unit-tested below.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

use super::rt::lock;

/// Length of every frame on a port.
pub const FRAME: Duration = Duration::from_millis(20);

/// The audio on a port: 16-bit signed mono PCM in 20 ms frames at `rate` Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    pub rate: u32,
    /// The call's G.711 law when the call is G.711: an integration that speaks G.711 itself (an
    /// agent sending `audio/pcmu`) re-encodes the PCM with it, which gives the caller's bytes
    /// back exactly, and its own G.711 decoded with it is re-encoded by the leg unchanged.
    pub g711: Option<crate::media::g711::Law>,
}

impl AudioFormat {
    /// Narrowband telephone audio (G.711 calls).
    pub const NARROWBAND: AudioFormat = AudioFormat {
        rate: 8000,
        g711: None,
    };
    /// Wideband (Opus calls).
    pub const WIDEBAND: AudioFormat = AudioFormat {
        rate: 16000,
        g711: None,
    };

    /// Samples in one 20 ms frame.
    pub fn samples_per_frame(self) -> usize {
        (self.rate / 50) as usize
    }
}

/// One 20 ms frame (`format.samples_per_frame()` samples; a shorter one is padded with
/// silence when played).
#[derive(Clone, PartialEq, Eq)]
pub struct AudioFrame {
    pub samples: Vec<i16>,
}

impl fmt::Debug for AudioFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AudioFrame({} samples)", self.samples.len())
    }
}

/// What [`AudioPort::next_event`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortEvent {
    /// A frame of the caller's audio.
    Caller(AudioFrame),
    /// Audio queued before this mark has been played (or cleared), and when.
    Mark(u32, Instant),
}

/// Queue sizes of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// Caller frames buffered for a slow integration before they are dropped (50 = 1 s).
    pub from_caller: usize,
    /// Live frames (and marks) queued towards the caller (500 = 10 s).
    pub to_caller: usize,
    /// Frames held before a talkspurt starts (jitter absorption; 1 = no added delay).
    pub prebuffer: usize,
    /// Silent frames sent for an underrun before the talkspurt ends (10 = 200 ms).
    pub hangover: usize,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            from_caller: 50,
            to_caller: 500,
            prebuffer: 1,
            hangover: 10,
        }
    }
}

/// The other half is gone (the call ended or the audio was detached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detached;

impl fmt::Display for Detached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the call's audio is detached")
    }
}

impl std::error::Error for Detached {}

/// Why [`AudioPort::try_send`] did not queue a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue towards the caller is full; the frame is handed back.
    Full(AudioFrame),
    Detached,
}

/// Why [`AudioPort::try_mark`] did not queue a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryMarkError {
    /// The queue towards the caller is full (retry later).
    Full,
    /// The leg is gone.
    Detached,
}

/// State both halves see.
struct Shared {
    /// Bumped by `clear`: live items of an older epoch are dropped.
    epoch: AtomicU64,
    /// Live frames played to the caller since the port was made.
    played: AtomicU64,
    /// Caller frames dropped because the integration was behind.
    dropped: AtomicU64,
    /// The leg's pacer sleeps with nothing to play; the next send must wake it.
    idle: AtomicBool,
    /// Installed by the leg: wakes its pacer.
    waker: Mutex<Option<Waker>>,
}

/// How a leg's pacer is woken when live audio arrives while it is idle.
pub type Waker = Box<dyn Fn() + Send + Sync>;

impl Shared {
    fn wake_if_idle(&self) {
        if self.idle.swap(false, Ordering::AcqRel) {
            if let Some(w) = lock(&self.waker).as_ref() {
                w();
            }
        }
    }
}

/// A queued item towards the caller.
#[derive(Debug)]
enum LiveItem {
    Frame { epoch: u64, frame: AudioFrame },
    Mark { epoch: u64, mark: u32 },
}

impl LiveItem {
    fn epoch(&self) -> u64 {
        match self {
            LiveItem::Frame { epoch, .. } | LiveItem::Mark { epoch, .. } => *epoch,
        }
    }
}

/// Makes a connected port (for the integration) and tap (for the leg).
pub fn pair(format: AudioFormat, cfg: PortConfig) -> (AudioPort, AudioTap) {
    let shared = Arc::new(Shared {
        epoch: AtomicU64::new(0),
        played: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        idle: AtomicBool::new(true),
        waker: Mutex::new(None),
    });
    let (in_tx, in_rx) = mpsc::channel(cfg.from_caller.max(1));
    let (out_tx, out_rx) = mpsc::channel(cfg.to_caller.max(1));
    let (mark_tx, mark_rx) = mpsc::unbounded_channel();
    let port = AudioPort {
        format,
        from_caller: in_rx,
        to_caller: out_tx,
        marks: mark_rx,
        shared: shared.clone(),
    };
    let tap = AudioTap {
        format,
        sink: CallerSink {
            tx: in_tx,
            shared: shared.clone(),
        },
        live: LiveSource {
            rx: out_rx,
            marks: mark_tx,
            shared,
            seen_epoch: 0,
            reported_epoch: 0,
            pending: VecDeque::new(),
            prebuffer: cfg.prebuffer.max(1),
            hangover: cfg.hangover,
            underrun: 0,
            started: false,
            closed: false,
        },
    };
    (port, tap)
}

/// The integration's side of the caller's audio (see the module docs).
pub struct AudioPort {
    format: AudioFormat,
    from_caller: mpsc::Receiver<AudioFrame>,
    to_caller: mpsc::Sender<LiveItem>,
    /// Marks reached, with when the leg reached them.
    marks: mpsc::UnboundedReceiver<(u32, Instant)>,
    shared: Arc<Shared>,
}

impl fmt::Debug for AudioPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioPort")
            .field("format", &self.format)
            .finish()
    }
}

impl AudioPort {
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// The caller's next frame; `None` once the leg has detached. Cancel-safe.
    pub async fn recv(&mut self) -> Option<AudioFrame> {
        self.from_caller.recv().await
    }

    /// Queues a frame for the caller, waiting while the queue is full.
    pub async fn send(&self, frame: AudioFrame) -> Result<(), Detached> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        self.to_caller
            .send(LiveItem::Frame { epoch, frame })
            .await
            .map_err(|_| Detached)?;
        self.shared.wake_if_idle();
        Ok(())
    }

    /// Queues a frame for the caller if there is room.
    pub fn try_send(&self, frame: AudioFrame) -> Result<(), TrySendError> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        match self.to_caller.try_send(LiveItem::Frame { epoch, frame }) {
            Ok(()) => {
                self.shared.wake_if_idle();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(LiveItem::Frame { frame, .. })) => {
                Err(TrySendError::Full(frame))
            }
            Err(_) => Err(TrySendError::Detached),
        }
    }

    /// Asks to hear `mark` back from [`AudioPort::next_mark`] once everything queued before it
    /// has been played (or cleared).
    pub async fn mark(&self, mark: u32) -> Result<(), Detached> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        self.to_caller
            .send(LiveItem::Mark { epoch, mark })
            .await
            .map_err(|_| Detached)?;
        self.shared.wake_if_idle();
        Ok(())
    }

    /// Like [`AudioPort::mark`] if there is room now; `Err(Full)` hands nothing back (retry).
    pub fn try_mark(&self, mark: u32) -> Result<(), TryMarkError> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        match self.to_caller.try_send(LiveItem::Mark { epoch, mark }) {
            Ok(()) => {
                self.shared.wake_if_idle();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(TryMarkError::Full),
            Err(_) => Err(TryMarkError::Detached),
        }
    }

    /// The caller's next frame or the next mark reached, whichever comes first (for
    /// integrations that need both in one `select!`); `None` once the leg has detached.
    /// Cancel-safe.
    pub async fn next_event(&mut self) -> Option<PortEvent> {
        tokio::select! {
            m = self.marks.recv() => m.map(|(m, at)| PortEvent::Mark(m, at)),
            f = self.from_caller.recv() => f.map(PortEvent::Caller),
        }
    }

    /// Barge-in: drops every frame queued so far (the leg stops within one frame); marks
    /// queued so far are reported at once.
    pub fn clear(&self) {
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
        // Wake the pacer even if it is busy sending: it must drop the queue now.
        self.shared.idle.store(true, Ordering::Release);
        self.shared.wake_if_idle();
    }

    /// The next mark that was reached; `None` once the leg has detached. Cancel-safe.
    pub async fn next_mark(&mut self) -> Option<u32> {
        self.marks.recv().await.map(|(m, _)| m)
    }

    /// A mark already reached, with when the leg reached it, without waiting (and without
    /// registering for a wake-up: an integration that only needs its marks when it wakes for
    /// something else reads them here, and the leg's mark echoes never wake it).
    pub fn try_mark_reached(&mut self) -> Option<(u32, Instant)> {
        self.marks.try_recv().ok()
    }

    /// Live audio that has reached the caller since the port was made.
    pub fn played(&self) -> Duration {
        FRAME * self.shared.played.load(Ordering::Acquire) as u32
    }

    /// Caller frames dropped because this integration was behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Acquire)
    }
}

/// The leg's side of a port: a [`CallerSink`] for what the caller sends and a [`LiveSource`]
/// for what the integration sends. Legs may split it and put the halves where their receive
/// and send paths live.
pub struct AudioTap {
    pub format: AudioFormat,
    pub sink: CallerSink,
    pub live: LiveSource,
}

impl fmt::Debug for AudioTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioTap")
            .field("format", &self.format)
            .finish()
    }
}

/// Where a leg offers the caller's decoded frames.
pub struct CallerSink {
    tx: mpsc::Sender<AudioFrame>,
    shared: Arc<Shared>,
}

impl CallerSink {
    /// Offers one frame; never waits. `false` when it was dropped (the integration is
    /// behind, counted) or the port is gone.
    pub fn offer(&self, frame: AudioFrame) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Whether the integration dropped its port.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// What a [`LiveSource`] gives for the next 20 ms slot.
#[derive(Debug, PartialEq, Eq)]
pub enum LiveNext {
    /// Play this frame.
    Frame(AudioFrame),
    /// Mid-talkspurt underrun: play silence (keeps timing and sequence numbers).
    Silence,
    /// Nothing to play: the talkspurt (if any) is over.
    Idle,
}

/// The integration's audio as a leg's pacer pulls it, one slot at a time.
pub struct LiveSource {
    rx: mpsc::Receiver<LiveItem>,
    marks: mpsc::UnboundedSender<(u32, Instant)>,
    shared: Arc<Shared>,
    seen_epoch: u64,
    /// The epoch [`LiveSource::take_cleared`] last reported.
    reported_epoch: u64,
    /// Items taken off the channel for the prebuffer.
    pending: VecDeque<LiveItem>,
    prebuffer: usize,
    hangover: usize,
    underrun: usize,
    started: bool,
    closed: bool,
}

impl LiveSource {
    /// Installs how the leg's pacer is woken when audio arrives while it is idle.
    pub fn set_waker(&self, waker: Waker) {
        *lock(&self.shared.waker) = Some(waker);
    }

    /// Whether the integration called [`AudioPort::clear`] since the last call (a leg that
    /// sends ahead of real time, like Twilio's, forwards the clear to the far end).
    pub fn take_cleared(&mut self) -> bool {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        let cleared = epoch != self.reported_epoch;
        self.reported_epoch = epoch;
        cleared
    }

    /// Whether the port was dropped and everything it queued has been played.
    pub fn is_finished(&self) -> bool {
        self.closed && self.pending.is_empty()
    }

    /// Whether [`LiveSource::next_slot`] would give a frame or silence now (so the pacer should
    /// run). Counts what is still in the channel without taking it (a queued mark or a frame
    /// a `clear` will drop may make it say yes once; the slot then finds nothing and idles).
    pub fn ready(&self) -> bool {
        let queued = self.frames_pending() + self.rx.len();
        let gone = self.closed || self.rx.is_closed();
        self.started || queued >= self.prebuffer || (gone && queued > 0)
    }

    /// Whether a talkspurt is running and its next frame has not arrived yet: the next slot
    /// would be an underrun's silence. A pacer may hold the slot a little for the frame (an
    /// integration pacing in real time sends each frame just after our slot would have
    /// taken it); this arms the waker so the frame's arrival wakes the pacer.
    pub fn starved(&mut self, now: Instant) -> bool {
        self.refill(now);
        let starved = self.started && self.may_fill_underrun() && self.frames_pending() == 0;
        if starved {
            self.go_idle();
        }
        starved
    }

    /// The audio for the slot due `now`. Reports marks reached on the way (stamped `now`).
    pub fn next_slot(&mut self, now: Instant) -> LiveNext {
        self.refill(now);
        if !self.started {
            if self.frames_pending() < self.prebuffer && !self.flushing() {
                self.echo_leading_marks(now);
                self.go_idle();
                return LiveNext::Idle;
            }
            self.started = true;
        }
        self.echo_leading_marks(now);
        // Leading marks are gone, so the head is a frame or nothing.
        if let Some(LiveItem::Frame { frame, .. }) = self.pending.pop_front() {
            self.underrun = 0;
            self.shared.played.fetch_add(1, Ordering::AcqRel);
            self.echo_leading_marks(now);
            return LiveNext::Frame(frame);
        }
        if self.may_fill_underrun() {
            self.underrun += 1;
            return LiveNext::Silence;
        }
        self.started = false;
        self.underrun = 0;
        self.go_idle();
        LiveNext::Idle
    }

    /// Whether an underrun now is still bridged with silence (the talkspurt goes on) rather
    /// than ending the talkspurt.
    fn may_fill_underrun(&self) -> bool {
        self.underrun < self.hangover && !self.closed
    }

    /// Frames in the prebuffer.
    fn frames_pending(&self) -> usize {
        self.pending
            .iter()
            .filter(|i| matches!(i, LiveItem::Frame { .. }))
            .count()
    }

    /// The port is gone: play what is left without waiting for a full prebuffer.
    fn flushing(&self) -> bool {
        self.closed && !self.pending.is_empty()
    }

    /// Takes what the channel holds into `pending` (up to the prebuffer once started: the
    /// rest stays in the bounded channel), applying a `clear`.
    fn refill(&mut self, now: Instant) {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        if epoch != self.seen_epoch {
            self.seen_epoch = epoch;
            for item in std::mem::take(&mut self.pending) {
                self.drop_item(item, now);
            }
            self.started = false;
            self.underrun = 0;
        }
        let want = self.prebuffer.max(2);
        while self.frames_pending() < want {
            match self.rx.try_recv() {
                Ok(item) if item.epoch() < epoch => self.drop_item(item, now),
                Ok(item) => self.pending.push_back(item),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    break;
                }
            }
        }
    }

    /// A cleared item: frames vanish, marks are reported.
    fn drop_item(&self, item: LiveItem, now: Instant) {
        if let LiveItem::Mark { mark, .. } = item {
            let _ = self.marks.send((mark, now));
        }
    }

    fn echo_leading_marks(&mut self, now: Instant) {
        while let Some(LiveItem::Mark { mark, .. }) = self.pending.front() {
            let _ = self.marks.send((*mark, now));
            self.pending.pop_front();
        }
    }

    /// Tells the next send to wake the pacer (nothing is queued now). A send that raced with
    /// this (queued after the last look, before the flag) wakes the pacer from here.
    fn go_idle(&self) {
        self.shared.idle.store(true, Ordering::Release);
        if !self.rx.is_empty() {
            self.shared.wake_if_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one instant these tests stamp slots with.
    fn now() -> Instant {
        static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T.get_or_init(Instant::now)
    }

    fn frame(v: i16) -> AudioFrame {
        AudioFrame {
            samples: vec![v; 160],
        }
    }

    fn first(n: &LiveNext) -> Option<i16> {
        match n {
            LiveNext::Frame(f) => Some(f.samples[0]),
            LiveNext::Silence => Some(0),
            LiveNext::Idle => None,
        }
    }

    fn cfg(prebuffer: usize, hangover: usize) -> PortConfig {
        PortConfig {
            prebuffer,
            hangover,
            ..PortConfig::default()
        }
    }

    #[test]
    fn frames_play_in_order_after_the_prebuffer_and_an_underrun_is_silence_then_idle() {
        let (port, mut tap) = pair(AudioFormat::NARROWBAND, cfg(2, 2));
        port.try_send(frame(1)).unwrap();
        assert!(!tap.live.ready(), "one frame is below the prebuffer");
        assert_eq!(tap.live.next_slot(now()), LiveNext::Idle);
        port.try_send(frame(2)).unwrap();
        port.try_send(frame(3)).unwrap();
        assert!(tap.live.ready());
        let got: Vec<_> = (0..6).map(|_| first(&tap.live.next_slot(now()))).collect();
        assert_eq!(got, [Some(1), Some(2), Some(3), Some(0), Some(0), None]);
        assert_eq!(port.played(), FRAME * 3);
    }

    #[test]
    fn clear_drops_queued_audio_at_once_and_reports_its_marks() {
        let (mut port, mut tap) = pair(AudioFormat::NARROWBAND, cfg(1, 0));
        for v in 1..=5 {
            port.try_send(frame(v)).unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(port.mark(7)).unwrap();
        assert_eq!(first(&tap.live.next_slot(now())), Some(1));
        port.clear();
        port.try_send(frame(9)).unwrap();
        assert_eq!(
            first(&tap.live.next_slot(now())),
            Some(9),
            "the cleared frames never play"
        );
        assert_eq!(
            port.marks.try_recv().ok().map(|(m, _)| m),
            Some(7),
            "the cleared mark is reported"
        );
        assert_eq!(tap.live.next_slot(now()), LiveNext::Idle);
        assert_eq!(port.played(), FRAME * 2);
    }

    #[test]
    fn a_mark_is_reported_when_the_audio_before_it_has_played() {
        let (mut port, mut tap) = pair(AudioFormat::NARROWBAND, cfg(1, 0));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        port.try_send(frame(1)).unwrap();
        rt.block_on(port.mark(1)).unwrap();
        port.try_send(frame(2)).unwrap();
        rt.block_on(port.mark(2)).unwrap();
        assert!(port.try_mark_reached().is_none());
        assert_eq!(first(&tap.live.next_slot(now())), Some(1));
        assert_eq!(
            port.try_mark_reached(),
            Some((1, now())),
            "stamped with the slot that played the audio before it"
        );
        assert!(port.try_mark_reached().is_none(), "2 waits for its frame");
        let later = now() + FRAME;
        assert_eq!(first(&tap.live.next_slot(later)), Some(2));
        assert_eq!(port.try_mark_reached(), Some((2, later)));
    }

    #[test]
    fn a_slow_integration_loses_caller_frames_and_the_leg_never_waits() {
        let cfg = PortConfig {
            from_caller: 2,
            ..PortConfig::default()
        };
        let (mut port, tap) = pair(AudioFormat::NARROWBAND, cfg);
        assert!(tap.sink.offer(frame(1)));
        assert!(tap.sink.offer(frame(2)));
        assert!(!tap.sink.offer(frame(3)), "full: dropped");
        assert_eq!(port.dropped(), 1);
        assert_eq!(port.from_caller.try_recv().ok(), Some(frame(1)));
        drop(port);
        assert!(tap.sink.is_closed());
        assert!(!tap.sink.offer(frame(4)));
    }

    #[test]
    fn a_dropped_port_plays_out_what_it_queued_then_finishes() {
        let (port, mut tap) = pair(AudioFormat::NARROWBAND, cfg(3, 0));
        port.try_send(frame(1)).unwrap();
        drop(port);
        assert!(tap.live.ready(), "no prebuffer wait once the port is gone");
        assert_eq!(first(&tap.live.next_slot(now())), Some(1));
        assert_eq!(tap.live.next_slot(now()), LiveNext::Idle);
        assert!(tap.live.is_finished());
    }

    #[test]
    fn the_first_send_after_idle_wakes_the_pacer_once() {
        let (port, tap) = pair(AudioFormat::NARROWBAND, PortConfig::default());
        let woken = Arc::new(AtomicU64::new(0));
        let w = woken.clone();
        tap.live.set_waker(Box::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        port.try_send(frame(1)).unwrap();
        port.try_send(frame(2)).unwrap();
        assert_eq!(woken.load(Ordering::Relaxed), 1);
        port.clear();
        assert_eq!(woken.load(Ordering::Relaxed), 2, "a clear always wakes");
    }

    #[test]
    fn a_talkspurt_waiting_for_its_next_frame_is_starved_and_the_frame_wakes_the_pacer() {
        let (port, mut tap) = pair(AudioFormat::NARROWBAND, cfg(1, 2));
        let woken = Arc::new(AtomicU64::new(0));
        let w = woken.clone();
        tap.live.set_waker(Box::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        assert!(
            !tap.live.starved(now()),
            "no talkspurt yet: idle, not starved"
        );
        port.try_send(frame(1)).unwrap();
        assert_eq!(woken.load(Ordering::Relaxed), 1);
        assert!(!tap.live.starved(now()), "a frame is there");
        assert_eq!(first(&tap.live.next_slot(now())), Some(1));
        assert!(tap.live.starved(now()), "mid-talkspurt, nothing queued");
        port.try_send(frame(2)).unwrap();
        assert_eq!(
            woken.load(Ordering::Relaxed),
            2,
            "the late frame wakes the pacer holding its slot"
        );
        assert!(!tap.live.starved(now()));
        assert_eq!(first(&tap.live.next_slot(now())), Some(2));
        let got: Vec<_> = (0..2).map(|_| first(&tap.live.next_slot(now()))).collect();
        assert_eq!(got, [Some(0), Some(0)], "the hangover's silence");
        assert!(
            !tap.live.starved(now()),
            "after the hangover the talkspurt ends rather than wait"
        );
        assert_eq!(tap.live.next_slot(now()), LiveNext::Idle);
        drop(port);
        assert!(!tap.live.starved(now()), "a gone port is never waited for");
    }
}
