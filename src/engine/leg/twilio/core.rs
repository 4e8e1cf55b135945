//! The Twilio leg's media as a sans-IO machine: what to send Twilio and when, and what Twilio's
//! messages mean for the call. The runtime ([`super::conn`]) feeds it Twilio's messages, the
//! driver's commands, loaded prompts and the time, and executes its outputs ([`Out`]).
//!
//! Rules it owns:
//! - **Prompts are paced in real time.** μ-law frames go out on an absolute 20 ms schedule,
//!   [`CoreConfig::lead`] frames ahead of what Twilio plays (jitter margin), never dumped at
//!   once: Twilio's buffer holds only the lead, so a `clear` cuts where the caller is.
//! - **Playback finished comes from Twilio.** After a prompt's last frame we send a `mark`;
//!   Twilio echoes it once the audio before it has played, and only then does the prompt count
//!   as finished. A mark Twilio never echoes finishes its prompt [`CoreConfig::mark_grace`]
//!   after it should have played (a call never waits forever).
//! - **Barge-in clears.** Stopping a prompt whose audio Twilio may still hold sends `clear`;
//!   other prompts' marks still pending at that `clear` count as finished here (whether Twilio
//!   echoes marks it cleared is not settled; we depend on neither), and a prompt that had
//!   started inside the lead starts again from its beginning.
//! - **Live audio** (an integration's [`AudioTap`]) plays when no prompt is queued, one
//!   [`LiveSource`] slot per 20 ms; a `clear` on the port while live audio is in Twilio's
//!   buffer is forwarded as a Twilio `clear`.
//! - The caller's audio (μ-law) is decoded and cut into 20 ms frames only while a port is
//!   attached; `dtmf` events are keys; `stop` ends the leg; silence from Twilio for
//!   [`CoreConfig::idle_timeout`] ends it too (Twilio sends media every 20 ms while a call is up).
//! - Sending a key to the caller's side plays the key's tones in band (Media Streams cannot
//!   carry DTMF towards the caller).
//!
//! Not owned here: the websocket, prompt decoding, REST calls (transfer, hangup): the runtime.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::audio_port::{AudioFrame, AudioTap, CallerSink, LiveNext, LiveSource, FRAME};
use crate::engine::leg::{LegEnd, LegEvent};
use crate::engine::media::{DtmfMethod, Frame};
use crate::flow::digit::Digit;
use crate::machine::io::{Media, RequestId};
use crate::media::g711::Law;
use crate::wsmedia::twilio::{FromTwilio, ToTwilio, FRAME_BYTES};

/// Timing of a Twilio leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreConfig {
    /// Frames sent ahead of the real-time schedule (2 = 40 ms in Twilio's buffer).
    pub lead: u32,
    /// How long after a prompt should have played its mark may still be echoed.
    pub mark_grace: Duration,
    /// No message from Twilio for this long ends the leg.
    pub idle_timeout: Duration,
    /// Longest prompt or stream buffered ahead of playback, in frames (bounded memory).
    pub stream_ahead: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            lead: 2,
            mark_grace: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(30),
            stream_ahead: 50,
        }
    }
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Send(ToTwilio),
    Event(LegEvent),
    /// Load a prompt: answer with [`TwilioCore::loaded`] (a file) or the `stream_*` calls (a URL).
    Load {
        id: RequestId,
        media: Media,
    },
    /// Stop feeding a remote prompt (it was stopped).
    Unload(RequestId),
    /// Close the websocket: the leg is over.
    Close,
}

/// What a queued item plays.
#[derive(Debug)]
enum Body {
    Loading,
    Frames(std::sync::Arc<[Frame]>),
    Stream {
        buf: VecDeque<Frame>,
        done: bool,
    },
    /// In-band key tones (not a request).
    Tones(Vec<[u8; FRAME_BYTES]>),
}

#[derive(Debug)]
struct Item {
    /// `None` for tones.
    id: Option<RequestId>,
    body: Body,
    /// Frames sent so far.
    pos: usize,
}

impl Item {
    /// The next frame, if one is ready; `Err(true)` when the item is over, `Err(false)` when
    /// it waits (loading, a stream underrun).
    fn next(&mut self) -> Result<Vec<u8>, bool> {
        let frame = match &mut self.body {
            Body::Loading => return Err(false),
            Body::Frames(f) => f.get(self.pos).map(|f| f.payload().to_vec()).ok_or(true)?,
            Body::Stream { buf, done } => match buf.pop_front() {
                Some(f) => f.payload().to_vec(),
                None => return Err(*done),
            },
            Body::Tones(t) => t.get(self.pos).map(|f| f.to_vec()).ok_or(true)?,
        };
        self.pos += 1;
        Ok(frame)
    }
}

/// A prompt fully sent, waiting for Twilio to echo its mark.
#[derive(Debug)]
struct PendingMark {
    name: String,
    id: RequestId,
    /// Finished anyway at this instant if no echo came.
    deadline: Instant,
}

/// One Twilio leg's media (see the module docs).
pub struct TwilioCore {
    cfg: CoreConfig,
    queue: VecDeque<Item>,
    marks: Vec<PendingMark>,
    mark_seq: u64,
    sinks: Vec<(RequestId, CallerSink)>,
    live: Vec<(RequestId, LiveSource)>,
    /// When the next frame is due on the real-time schedule; `None` while nothing plays.
    next_due: Option<Instant>,
    /// The last frame sent was live audio, at this instant.
    live_sent_at: Option<Instant>,
    /// The last message from Twilio.
    last_in: Instant,
    /// Caller samples not yet a whole frame.
    partial: Vec<i16>,
    out: VecDeque<Out>,
    ended: bool,
}

impl TwilioCore {
    pub fn new(cfg: CoreConfig, now: Instant) -> TwilioCore {
        TwilioCore {
            cfg,
            queue: VecDeque::new(),
            marks: Vec::new(),
            mark_seq: 0,
            sinks: Vec::new(),
            live: Vec::new(),
            next_due: None,
            live_sent_at: None,
            last_in: now,
            partial: Vec::new(),
            out: VecDeque::new(),
            ended: false,
        }
    }

    pub fn poll_output(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// When [`TwilioCore::on_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let lead = FRAME * self.cfg.lead;
        let pacer = self.next_due.map(|d| d.checked_sub(lead).unwrap_or(d));
        let marks = self.marks.iter().map(|m| m.deadline).min();
        let idle = Some(self.last_in + self.cfg.idle_timeout);
        [pacer, marks, idle].into_iter().flatten().min()
    }

    /// The remote prompt whose frames are wanted now (its buffer runs low), if any.
    pub fn wants_stream(&self) -> Option<RequestId> {
        self.queue.iter().find_map(|i| match &i.body {
            Body::Stream { buf, done: false } if buf.len() < self.cfg.stream_ahead => i.id,
            _ => None,
        })
    }

    /// One message from Twilio.
    pub fn on_message(&mut self, msg: FromTwilio, now: Instant) {
        if self.ended {
            return;
        }
        self.last_in = now;
        match msg {
            FromTwilio::Media(m) => self.caller_audio(&m.payload),
            FromTwilio::Dtmf(digit) => self.event(LegEvent::Dtmf {
                digit,
                method: DtmfMethod::MediaStream,
            }),
            FromTwilio::Mark(name) => {
                if let Some(i) = self.marks.iter().position(|m| m.name == name) {
                    let m = self.marks.remove(i);
                    self.event(LegEvent::PlaybackFinished(m.id));
                }
            }
            FromTwilio::Stop => self.end(LegEnd::Remote),
            FromTwilio::Connected | FromTwilio::Start(_) | FromTwilio::Other(_) => {}
        }
    }

    /// A command from the driver (`Transfer` and `Hangup` are the runtime's).
    pub fn play(&mut self, id: RequestId, media: Media, now: Instant) {
        // A file is loaded whole; a URL's frames are pulled as they download.
        let body = match media {
            Media::File(_) => Body::Loading,
            Media::Url(_) => Body::Stream {
                buf: VecDeque::new(),
                done: false,
            },
        };
        self.queue.push_back(Item {
            id: Some(id),
            body,
            pos: 0,
        });
        self.out.push_back(Out::Load { id, media });
        self.kick(now);
    }

    /// Barge-in: drops prompt `id`, clearing Twilio's buffer if it may hold its audio.
    pub fn stop(&mut self, id: RequestId, now: Instant) {
        let mut clear = false;
        if let Some(i) = self.queue.iter().position(|i| i.id == Some(id)) {
            let item = self.queue.remove(i).expect("invariant: position found it");
            clear |= item.pos > 0;
            if matches!(item.body, Body::Stream { .. } | Body::Loading) {
                self.out.push_back(Out::Unload(id));
            }
        }
        if let Some(i) = self.marks.iter().position(|m| m.id == id) {
            self.marks.remove(i);
            clear = true;
        }
        if clear {
            self.clear(now);
        }
    }

    /// Plays `digit`'s tones towards the caller (100 ms tone, 60 ms pause).
    pub fn send_dtmf(&mut self, digit: Digit, now: Instant) {
        self.queue.push_back(Item {
            id: None,
            body: Body::Tones(tones(digit)),
            pos: 0,
        });
        self.kick(now);
    }

    pub fn attach(&mut self, id: RequestId, tap: AudioTap) {
        self.sinks.push((id, tap.sink));
        self.live.push((id, tap.live));
    }

    /// Removes an integration's audio at once, whatever it still had queued (as on SIP).
    pub fn detach(&mut self, id: RequestId) {
        self.sinks.retain(|(i, _)| *i != id);
        self.live.retain(|(i, _)| *i != id);
        if self.sinks.is_empty() {
            self.partial.clear();
        }
    }

    /// A file prompt's frames (or why it cannot play).
    pub fn loaded(
        &mut self,
        id: RequestId,
        result: Result<std::sync::Arc<[Frame]>, String>,
        now: Instant,
    ) {
        let Some(item) = self.queue.iter_mut().find(|i| i.id == Some(id)) else {
            return;
        };
        match result {
            Ok(frames) => item.body = Body::Frames(frames),
            Err(reason) => return self.failed(id, reason, now),
        }
        self.kick(now);
    }

    /// Frames of a remote prompt, as they download.
    pub fn stream_frames(&mut self, id: RequestId, frames: Vec<Frame>, now: Instant) {
        let Some(item) = self.queue.iter_mut().find(|i| i.id == Some(id)) else {
            return;
        };
        match &mut item.body {
            Body::Stream { buf, .. } => buf.extend(frames),
            body @ Body::Loading => {
                *body = Body::Stream {
                    buf: frames.into(),
                    done: false,
                }
            }
            _ => return,
        }
        self.kick(now);
    }

    /// A remote prompt's download ended (`Err`: it broke).
    pub fn stream_end(&mut self, id: RequestId, result: Result<(), String>, now: Instant) {
        let Some(item) = self.queue.iter_mut().find(|i| i.id == Some(id)) else {
            return;
        };
        match result {
            Ok(()) => match &mut item.body {
                Body::Stream { done, .. } => *done = true,
                body @ Body::Loading => {
                    *body = Body::Stream {
                        buf: VecDeque::new(),
                        done: true,
                    }
                }
                _ => {}
            },
            Err(reason) => return self.failed(id, reason, now),
        }
        self.kick(now);
    }

    /// Live audio was queued or cleared on a port (its waker fired).
    pub fn wake(&mut self, now: Instant) {
        let mut cleared = false;
        for (_, src) in &mut self.live {
            cleared |= src.take_cleared();
        }
        let recent = self
            .live_sent_at
            .is_some_and(|t| now.saturating_duration_since(t) <= FRAME * (self.cfg.lead + 1));
        if cleared && recent && self.queue.is_empty() {
            self.out.push_back(Out::Send(ToTwilio::Clear));
            self.live_sent_at = None;
        }
        self.kick(now);
    }

    /// Time passed: frames due, marks overdue, Twilio silent.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        if now >= self.last_in + self.cfg.idle_timeout {
            tracing::warn!(timeout = ?self.cfg.idle_timeout, "no message from Twilio: ending the leg");
            return self.end(LegEnd::NoMedia);
        }
        let overdue: Vec<RequestId> = self
            .marks
            .iter()
            .filter(|m| m.deadline <= now)
            .map(|m| m.id)
            .collect();
        if !overdue.is_empty() {
            tracing::warn!(
                count = overdue.len(),
                "Twilio did not echo our mark: prompt counted as finished"
            );
            self.marks.retain(|m| m.deadline > now);
            for id in overdue {
                self.event(LegEvent::PlaybackFinished(id));
            }
        }
        self.pace(now);
    }

    /// Starts the pacer if something can play and it is idle.
    fn kick(&mut self, now: Instant) {
        if self.next_due.is_none() && !self.ended {
            self.next_due = Some(now);
            self.pace(now);
        }
    }

    /// Sends every frame due by `now` plus the lead.
    fn pace(&mut self, now: Instant) {
        let horizon = now + FRAME * self.cfg.lead;
        while let Some(due) = self.next_due.filter(|d| *d <= horizon) {
            match self.next_frame(now) {
                Some(frame) => {
                    self.out.push_back(Out::Send(ToTwilio::Media(frame)));
                    // A pacer woken very late restarts its schedule rather than bursting.
                    let next = due + FRAME;
                    self.next_due = Some(if next + FRAME * 10 < now { now } else { next });
                }
                None => self.next_due = None,
            }
        }
    }

    /// The next frame to send: the head prompt's, else live audio. Finishes items on the way.
    fn next_frame(&mut self, now: Instant) -> Option<Vec<u8>> {
        while let Some(head) = self.queue.front_mut() {
            match head.next() {
                Ok(frame) => {
                    self.live_sent_at = None;
                    return Some(frame);
                }
                Err(false) => return None,
                Err(true) => {
                    let item = self.queue.pop_front().expect("invariant: front exists");
                    if let Some(id) = item.id {
                        self.sent_all(id, now);
                    }
                }
            }
        }
        self.live_frame(now)
    }

    /// Marks the end of prompt `id`: finished when Twilio echoes the mark.
    fn sent_all(&mut self, id: RequestId, now: Instant) {
        self.mark_seq += 1;
        let name = format!("p{}-{}", id.0, self.mark_seq);
        let plays_until = self.next_due.unwrap_or(now) + FRAME * self.cfg.lead;
        self.marks.push(PendingMark {
            name: name.clone(),
            id,
            deadline: plays_until.max(now) + self.cfg.mark_grace,
        });
        self.out.push_back(Out::Send(ToTwilio::Mark(name)));
    }

    fn live_frame(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.live.retain(|(_, s)| !s.is_finished());
        let mut samples = None;
        for (_, src) in self.live.iter_mut().filter(|(_, s)| s.ready()) {
            match src.next_slot(now) {
                LiveNext::Frame(f) => samples = Some(f.samples),
                LiveNext::Silence => samples = Some(Vec::new()),
                LiveNext::Idle => continue,
            }
            break;
        }
        let samples = samples?;
        let mut out = Vec::with_capacity(FRAME_BYTES);
        Law::Mu.encode(&samples[..samples.len().min(FRAME_BYTES)], &mut out);
        out.resize(FRAME_BYTES, Law::Mu.silence());
        self.live_sent_at = Some(now);
        Some(out)
    }

    /// Sends `clear`: resolves the other pending marks and restarts a prompt cut inside the lead.
    fn clear(&mut self, now: Instant) {
        self.out.push_back(Out::Send(ToTwilio::Clear));
        for m in std::mem::take(&mut self.marks) {
            self.event(LegEvent::PlaybackFinished(m.id));
        }
        if let Some(head) = self.queue.front_mut() {
            if matches!(head.body, Body::Frames(_) | Body::Tones(_)) {
                head.pos = 0;
            }
        }
        self.live_sent_at = None;
        self.next_due = None;
        self.kick(now);
    }

    fn failed(&mut self, id: RequestId, reason: String, now: Instant) {
        let started = self
            .queue
            .iter()
            .position(|i| i.id == Some(id))
            .and_then(|i| self.queue.remove(i))
            .is_some_and(|i| i.pos > 0);
        tracing::warn!(error = %reason, started, "prompt failed on the Twilio leg");
        self.event(LegEvent::PlaybackFailed { id, reason });
        self.kick(now);
    }

    fn caller_audio(&mut self, payload: &[u8]) {
        if self.sinks.is_empty() {
            return;
        }
        self.sinks.retain(|(_, s)| !s.is_closed());
        Law::Mu.decode(payload, &mut self.partial);
        let n = FRAME_BYTES;
        while self.partial.len() >= n {
            let samples: Vec<i16> = self.partial.drain(..n).collect();
            for (_, sink) in &self.sinks {
                sink.offer(AudioFrame {
                    samples: samples.clone(),
                });
            }
        }
    }

    fn event(&mut self, ev: LegEvent) {
        self.out.push_back(Out::Event(ev));
    }

    fn end(&mut self, how: LegEnd) {
        if !self.ended {
            self.ended = true;
            self.next_due = None;
            self.event(LegEvent::Ended(how));
            self.out.push_back(Out::Close);
        }
    }
}

/// A key's two tones (ITU-T Q.23) for 100 ms, then 60 ms of silence, as μ-law frames.
fn tones(digit: Digit) -> Vec<[u8; FRAME_BYTES]> {
    const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (row, col) = match digit.as_char() {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        _ => (3, 3),
    };
    let (f1, f2) = (LOW[row], HIGH[col]);
    let mut frames = Vec::new();
    let mut t = 0usize;
    for k in 0..8 {
        let mut frame = [Law::Mu.silence(); FRAME_BYTES];
        if k < 5 {
            for s in frame.iter_mut() {
                let x = t as f32 / 8000.0;
                let v = 0.3 * (std::f32::consts::TAU * f1 * x).sin()
                    + 0.3 * (std::f32::consts::TAU * f2 * x).sin();
                *s = Law::Mu.encode_sample((v * 32767.0) as i16);
                t += 1;
            }
        }
        frames.push(frame);
    }
    frames
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
