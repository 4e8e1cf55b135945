//! The send queue of one call: which prompt plays now, which are queued, and the next frame.
//!
//! Prompts play in the order they were asked for. A file prompt is `Loading` until the cache
//! hands its frames over; a stream is waiting until its first frame arrives. The session asks
//! [`Playout::next_frame`] once per due packet slot: it gets the next frame (and, with the last
//! frame of a file prompt, the id to report as finished once that frame is sent), or `Idle`.
//! A stream that runs dry mid-play gets silence frames (an underrun keeps the timing and the
//! sequence numbers). Stopping an item drops it and whatever task feeds it; no event follows.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc::{self, error::TryRecvError};

use super::codec::{silence_frame, Frame};
use super::prompts::Prompt;
use super::stream::{AbortOnDrop, StreamMsg};
use super::{MediaEvent, PlaybackError};
use crate::machine::io::RequestId;
use crate::sdp::Codec;

pub(super) enum Source {
    /// Waiting for the prompt cache; `resume_at` is the frame to start from (after a codec
    /// change mid-prompt).
    Loading {
        _task: AbortOnDrop,
        resume_at: usize,
    },
    File {
        frames: Prompt,
        next: usize,
    },
    Stream {
        rx: mpsc::Receiver<StreamMsg>,
        _task: AbortOnDrop,
        started: bool,
        pending: Option<Frame>,
    },
}

pub(super) struct Item {
    pub id: RequestId,
    /// The file, for prompts that may need loading again in another codec.
    pub path: Option<PathBuf>,
    pub source: Source,
}

/// The next thing to send.
pub(super) enum Next {
    /// Send this frame; if `finished` is set, report that prompt finished after sending.
    Frame {
        frame: Frame,
        finished: Option<RequestId>,
    },
    /// Nothing to play now.
    Idle,
}

#[derive(Default)]
pub(super) struct Playout {
    queue: VecDeque<Item>,
}

impl Playout {
    pub fn push(&mut self, item: Item) {
        self.queue.push_back(item);
    }

    /// Removes the item (barge-in); `true` if it was there.
    pub fn stop(&mut self, id: RequestId) -> bool {
        let before = self.queue.len();
        self.queue.retain(|i| i.id != id);
        self.queue.len() != before
    }

    /// The cache answered for `id`.
    pub fn loaded(
        &mut self,
        id: RequestId,
        result: Result<Prompt, std::sync::Arc<super::PromptError>>,
        events: &mut Vec<MediaEvent>,
    ) {
        let Some(pos) = self.queue.iter().position(|i| i.id == id) else {
            return; // stopped meanwhile
        };
        let Source::Loading { resume_at, .. } = self.queue[pos].source else {
            return;
        };
        match result {
            Ok(frames) => {
                self.queue[pos].source = Source::File {
                    frames,
                    next: resume_at,
                }
            }
            Err(e) => {
                self.queue.remove(pos);
                events.push(MediaEvent::PlaybackFailed {
                    id,
                    reason: PlaybackError::Prompt(e),
                });
            }
        }
    }

    /// Whether the head can produce a frame now (so the pacer should run).
    pub fn head_ready(&self) -> bool {
        match self.queue.front().map(|i| &i.source) {
            Some(Source::File { .. }) => true,
            Some(Source::Stream {
                started, pending, ..
            }) => *started || pending.is_some(),
            Some(Source::Loading { .. }) | None => false,
        }
    }

    /// The head's stream receiver, when the head is a stream still waiting for its first frame.
    pub fn waiting_stream(&mut self) -> Option<&mut mpsc::Receiver<StreamMsg>> {
        match self.queue.front_mut().map(|i| &mut i.source) {
            Some(Source::Stream {
                rx,
                started: false,
                pending: None,
                ..
            }) => Some(rx),
            _ => None,
        }
    }

    /// A message from the waiting head stream (see [`Playout::waiting_stream`]).
    pub fn stream_message(&mut self, msg: Option<StreamMsg>, events: &mut Vec<MediaEvent>) {
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        let id = head.id;
        if let Source::Stream { pending, .. } = &mut head.source {
            match msg {
                Some(StreamMsg::Frame(f)) => *pending = Some(f),
                Some(StreamMsg::End) | None => {
                    self.queue.pop_front();
                    events.push(MediaEvent::PlaybackFinished(id));
                }
                Some(StreamMsg::Failed(e)) => {
                    self.queue.pop_front();
                    events.push(MediaEvent::PlaybackFailed {
                        id,
                        reason: PlaybackError::Stream(e),
                    });
                }
            }
        }
    }

    /// The frame for the next packet slot.
    pub fn next_frame(&mut self, codec: Codec, events: &mut Vec<MediaEvent>) -> Next {
        loop {
            let Some(head) = self.queue.front_mut() else {
                return Next::Idle;
            };
            let id = head.id;
            match &mut head.source {
                Source::Loading { .. } => return Next::Idle,
                Source::File { frames, next } => {
                    if let Some(frame) = frames.get(*next).cloned() {
                        *next += 1;
                        let done = *next >= frames.len();
                        if done {
                            self.queue.pop_front();
                        }
                        return Next::Frame {
                            frame,
                            finished: done.then_some(id),
                        };
                    }
                    // An empty prompt (or resumed past its end): finished at once.
                    self.queue.pop_front();
                    events.push(MediaEvent::PlaybackFinished(id));
                }
                Source::Stream {
                    rx,
                    started,
                    pending,
                    ..
                } => {
                    let msg = match pending.take() {
                        Some(f) => StreamMsg::Frame(f),
                        None => match rx.try_recv() {
                            Ok(m) => m,
                            Err(TryRecvError::Empty) if *started => {
                                return Next::Frame {
                                    frame: silence_frame(codec),
                                    finished: None,
                                };
                            }
                            Err(TryRecvError::Empty) => return Next::Idle,
                            Err(TryRecvError::Disconnected) => StreamMsg::End,
                        },
                    };
                    match msg {
                        StreamMsg::Frame(frame) => {
                            *started = true;
                            return Next::Frame {
                                frame,
                                finished: None,
                            };
                        }
                        StreamMsg::End => {
                            self.queue.pop_front();
                            events.push(MediaEvent::PlaybackFinished(id));
                        }
                        StreamMsg::Failed(e) => {
                            self.queue.pop_front();
                            events.push(MediaEvent::PlaybackFailed {
                                id,
                                reason: PlaybackError::Stream(e),
                            });
                        }
                    }
                }
            }
        }
    }

    /// The codec changed (re-INVITE): file prompts must be fetched again in the new codec,
    /// from the frame they reached; streams are encoded in the old one and fail.
    pub fn codec_changed(
        &mut self,
        mut reload: impl FnMut(RequestId, &Path) -> AbortOnDrop,
        events: &mut Vec<MediaEvent>,
    ) {
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for mut item in self.queue.drain(..) {
            let resume_at = match (&item.source, &item.path) {
                (Source::File { next, .. }, Some(_)) => *next,
                (Source::Loading { resume_at, .. }, Some(_)) => *resume_at,
                _ => {
                    events.push(MediaEvent::PlaybackFailed {
                        id: item.id,
                        reason: PlaybackError::Stream(super::StreamError::CodecChanged),
                    });
                    continue;
                }
            };
            let Some(path) = item.path.as_deref() else {
                continue;
            };
            item.source = Source::Loading {
                _task: reload(item.id, path),
                resume_at,
            };
            kept.push_back(item);
        }
        self.queue = kept;
    }
}
