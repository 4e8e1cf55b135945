//! The `axy` engine: the SDiFI speech server's gRPC
//! `sdifi.speech.v1alpha.SpeechService/StreamingRecognize` (SDiFI/protos
//! `sdifi/speech/v1alpha/speech.proto`; Axy proxies it to Tiro or Google speech), so the seed's
//! Twilio → ASR → dialogue pipeline runs on phonetree with its recognizer unchanged.
//!
//! One bidirectional stream per listen attempt: the first request carries
//! `streaming_config { config { encoding: LINEAR16, sample_rate_hertz: 16000, language_code },
//! interim_results: true, conversation: <call id> }`, the next ones `audio_content` (16-bit
//! little-endian PCM, [`BATCH`] samples each). The listen core's end of speech half-closes the
//! request stream; the server sends what remains and closes. Results with `is_final` are joined
//! into the transcript (as SDiFI's own client does); interim ones are partials; an `error`
//! status fails the attempt.
//!
//! The message types are written by hand with prost's derive (field numbers and names from the
//! published proto) instead of generated: six messages do not justify a `protoc` build step,
//! and `tests/fixtures/axy/speech.proto` holds the same definitions for the test stand-in,
//! which compiles them with the real protobuf compiler (so a mismatch fails the interop test).

use std::time::Duration;

use tokio::sync::mpsc;

use super::{AsrError, AsrEvent, ChannelSink, Feed, Recognizer, Request, RATE};

/// gRPC method path.
pub const METHOD: &str = "/sdifi.speech.v1alpha.SpeechService/StreamingRecognize";
/// Samples per audio message (100 ms at 16 kHz).
pub const BATCH: usize = 1_600;

/// Settings of the `axy` engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxyConfig {
    /// `http://host:port` (h2c) or `https://host:port` (TLS); `grpc://` and `grpcs://` (the
    /// seed's spelling) are accepted for them.
    pub url: String,
    pub connect_timeout: Duration,
    /// After the end of speech, the stream must close within this.
    pub result_timeout: Duration,
}

/// Protocol buffer messages of `sdifi.speech.v1alpha` (the subset phonetree sends and reads;
/// unknown fields such as word timings are skipped by prost).
pub mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamingRecognizeRequest {
        #[prost(oneof = "streaming_recognize_request::StreamingRequest", tags = "1, 2")]
        pub streaming_request: Option<streaming_recognize_request::StreamingRequest>,
    }

    pub mod streaming_recognize_request {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum StreamingRequest {
            #[prost(message, tag = "1")]
            StreamingConfig(super::StreamingRecognitionConfig),
            #[prost(bytes = "vec", tag = "2")]
            AudioContent(Vec<u8>),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamingRecognitionConfig {
        #[prost(message, optional, tag = "1")]
        pub config: Option<RecognitionConfig>,
        #[prost(bool, tag = "2")]
        pub single_utterance: bool,
        #[prost(bool, tag = "3")]
        pub interim_results: bool,
        #[prost(string, tag = "4")]
        pub conversation: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RecognitionConfig {
        /// `AudioEncoding`: 1 = LINEAR16.
        #[prost(int32, tag = "1")]
        pub encoding: i32,
        #[prost(int32, tag = "2")]
        pub sample_rate_hertz: i32,
        #[prost(string, tag = "3")]
        pub language_code: String,
        #[prost(int32, tag = "4")]
        pub max_alternatives: i32,
        #[prost(bool, tag = "8")]
        pub enable_word_time_offsets: bool,
        #[prost(bool, tag = "11")]
        pub enable_automatic_punctuation: bool,
    }

    pub const LINEAR16: i32 = 1;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamingRecognizeResponse {
        #[prost(message, optional, tag = "1")]
        pub error: Option<Status>,
        #[prost(message, repeated, tag = "2")]
        pub results: Vec<StreamingRecognitionResult>,
        /// `SpeechEventType`: 2 START_OF_SPEECH, 3 END_OF_SPEECH, 1 END_OF_SINGLE_UTTERANCE.
        #[prost(int32, tag = "4")]
        pub speech_event_type: i32,
    }

    /// `google.rpc.Status` (details skipped).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamingRecognitionResult {
        #[prost(message, repeated, tag = "1")]
        pub alternatives: Vec<SpeechRecognitionAlternative>,
        #[prost(bool, tag = "2")]
        pub is_final: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SpeechRecognitionAlternative {
        #[prost(string, tag = "1")]
        pub transcript: String,
        #[prost(float, tag = "2")]
        pub confidence: f32,
    }
}

/// The first request of a stream.
pub fn config_request(req: &Request) -> pb::StreamingRecognizeRequest {
    use pb::streaming_recognize_request::StreamingRequest;
    pb::StreamingRecognizeRequest {
        streaming_request: Some(StreamingRequest::StreamingConfig(
            pb::StreamingRecognitionConfig {
                config: Some(pb::RecognitionConfig {
                    encoding: pb::LINEAR16,
                    sample_rate_hertz: RATE as i32,
                    language_code: req.language.clone(),
                    max_alternatives: 1,
                    enable_word_time_offsets: false,
                    enable_automatic_punctuation: false,
                }),
                single_utterance: false,
                interim_results: true,
                conversation: req.call.clone(),
            },
        )),
    }
}

/// An audio request.
pub fn audio_request(pcm: &[i16]) -> pb::StreamingRecognizeRequest {
    use pb::streaming_recognize_request::StreamingRequest;
    pb::StreamingRecognizeRequest {
        streaming_request: Some(StreamingRequest::AudioContent(
            pcm.iter().flat_map(|s| s.to_le_bytes()).collect(),
        )),
    }
}

/// Folds responses into one transcript (sans-IO).
#[derive(Debug, Default)]
pub struct Transcript {
    finals: Vec<String>,
}

impl Transcript {
    /// A response; the event to report, if any.
    pub fn response(&mut self, r: &pb::StreamingRecognizeResponse) -> Option<AsrEvent> {
        if let Some(e) = &r.error {
            if e.code != 0 {
                return Some(AsrEvent::Error(AsrError::Remote(format!(
                    "status {}: {}",
                    e.code, e.message
                ))));
            }
        }
        let mut interim = Vec::new();
        for res in &r.results {
            let Some(text) = res.alternatives.first().map(|a| a.transcript.trim()) else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            if res.is_final {
                self.finals.push(text.to_owned());
            } else {
                interim.push(text.to_owned());
            }
        }
        if interim.is_empty() {
            return None;
        }
        let mut all = self.finals.clone();
        all.extend(interim);
        Some(AsrEvent::Partial(all.join(" ")))
    }

    pub fn result(&self) -> AsrEvent {
        AsrEvent::Final(self.finals.join(" "))
    }
}

/// The gRPC endpoint URL tonic wants.
pub fn endpoint_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("grpcs://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("grpc://") {
        format!("http://{rest}")
    } else {
        url.to_owned()
    }
}

/// Starts one recognition stream (connects in the background; audio queues meanwhile).
pub fn start(cfg: &AxyConfig, req: &Request) -> Recognizer {
    let (sink, feed) = ChannelSink::pair();
    let (tx, rx) = mpsc::channel(64);
    let cfg = cfg.clone();
    let first = config_request(req);
    tokio::spawn(async move {
        let event = run(&cfg, first, feed, &tx)
            .await
            .unwrap_or_else(AsrEvent::Error);
        let _ = tx.send(event).await;
    });
    Recognizer::new(Box::new(sink), rx)
}

async fn run(
    cfg: &AxyConfig,
    first: pb::StreamingRecognizeRequest,
    mut feed: mpsc::Receiver<Feed>,
    events: &mpsc::Sender<AsrEvent>,
) -> Result<AsrEvent, AsrError> {
    let endpoint = tonic::transport::Endpoint::from_shared(endpoint_url(&cfg.url))
        .map_err(|e| AsrError::Connect(format!("bad URL: {e}")))?
        .connect_timeout(cfg.connect_timeout);
    let channel = tokio::time::timeout(cfg.connect_timeout, endpoint.connect())
        .await
        .map_err(|_| AsrError::Connect("timed out".into()))?
        .map_err(|e| AsrError::Connect(e.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| AsrError::Connect(e.to_string()))?;

    // Requests flow from this channel; dropping its sender half-closes the stream.
    let (req_tx, req_rx) = mpsc::channel::<pb::StreamingRecognizeRequest>(64);
    let outbound =
        futures_util::stream::unfold(
            req_rx,
            |mut rx| async move { rx.recv().await.map(|r| (r, rx)) },
        );
    req_tx
        .send(first)
        .await
        .map_err(|_| AsrError::Remote("stream closed".into()))?;
    let codec = tonic_prost::ProstCodec::<
        pb::StreamingRecognizeRequest,
        pb::StreamingRecognizeResponse,
    >::default();
    let path = http::uri::PathAndQuery::from_static(METHOD);
    let call = grpc.streaming(tonic::Request::new(outbound), path, codec);

    // Pump audio while the call is being set up and while responses come.
    let mut req_tx = Some(req_tx);
    let mut pending: Vec<i16> = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    tokio::pin!(call);
    let mut inbound = loop {
        tokio::select! {
            r = &mut call => break r.map_err(status_error)?.into_inner(),
            f = feed.recv(), if req_tx.is_some() => {
                feed_one(f, &mut pending, &mut req_tx, &mut deadline, cfg).await;
            }
        }
    };
    let mut transcript = Transcript::default();
    loop {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = inbound.message() => match m.map_err(status_error)? {
                Some(resp) => match transcript.response(&resp) {
                    // Partials are dropped rather than crowd out the final result.
                    Some(AsrEvent::Partial(p)) if events.capacity() > 1 => {
                        let _ = events.try_send(AsrEvent::Partial(p));
                    }
                    Some(AsrEvent::Partial(_)) => {}
                    Some(other) => return Ok(other),
                    None => {}
                },
                None if req_tx.is_none() => return Ok(transcript.result()),
                None => return Err(AsrError::Remote("server ended the stream early".into())),
            },
            f = feed.recv(), if req_tx.is_some() => {
                feed_one(f, &mut pending, &mut req_tx, &mut deadline, cfg).await;
            }
            () = until => return Err(AsrError::Remote("no final result in time".into())),
        }
    }
}

/// Sends audio in batches; a finish (or the recognizer going away) sends the rest and
/// half-closes the request stream.
async fn feed_one(
    f: Option<Feed>,
    pending: &mut Vec<i16>,
    req_tx: &mut Option<mpsc::Sender<pb::StreamingRecognizeRequest>>,
    deadline: &mut Option<tokio::time::Instant>,
    cfg: &AxyConfig,
) {
    let Some(tx) = req_tx.as_ref() else { return };
    match f {
        Some(Feed::Audio(pcm)) => {
            pending.extend_from_slice(&pcm);
            if pending.len() >= BATCH {
                let _ = tx.send(audio_request(pending)).await;
                pending.clear();
            }
        }
        Some(Feed::Finish) | None => {
            if !pending.is_empty() {
                let _ = tx.send(audio_request(pending)).await;
                pending.clear();
            }
            *req_tx = None;
            *deadline = Some(tokio::time::Instant::now() + cfg.result_timeout);
        }
    }
}

fn status_error(s: tonic::Status) -> AsrError {
    AsrError::Remote(format!("{:?}: {}", s.code(), s.message()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn first_request_is_the_streaming_config() {
        let req = Request {
            language: "is-IS".into(),
            grammar: None,
            call: "call-7".into(),
            silence: Duration::from_millis(700),
        };
        let bytes = config_request(&req).encode_to_vec();
        let back = pb::StreamingRecognizeRequest::decode(bytes.as_slice()).unwrap();
        let Some(pb::streaming_recognize_request::StreamingRequest::StreamingConfig(c)) =
            back.streaming_request
        else {
            panic!("config first")
        };
        let rc = c.config.unwrap();
        assert_eq!((rc.encoding, rc.sample_rate_hertz), (pb::LINEAR16, 16_000));
        assert_eq!(rc.language_code, "is-IS");
        assert!(c.interim_results && !c.single_utterance);
        assert_eq!(c.conversation, "call-7");
        // Wire bytes for field 1 (streaming_config, length-delimited) come first.
        assert_eq!(bytes[0], 0x0a);
    }

    #[test]
    fn audio_is_little_endian_in_field_2() {
        let bytes = audio_request(&[1, -2]).encode_to_vec();
        assert_eq!(bytes, [0x12, 4, 1, 0, 0xfe, 0xff]);
    }

    #[test]
    fn finals_are_joined_interims_are_partials_errors_fail() {
        let alt = |t: &str| pb::SpeechRecognitionAlternative {
            transcript: t.into(),
            confidence: 0.0,
        };
        let res = |t: &str, is_final| pb::StreamingRecognitionResult {
            alternatives: vec![alt(t)],
            is_final,
        };
        let mut tr = Transcript::default();
        let r1 = pb::StreamingRecognizeResponse {
            results: vec![res("four", false)],
            ..Default::default()
        };
        assert_eq!(tr.response(&r1), Some(AsrEvent::Partial("four".into())));
        let r2 = pb::StreamingRecognizeResponse {
            results: vec![res("four one", true), res("one", false)],
            ..Default::default()
        };
        assert_eq!(
            tr.response(&r2),
            Some(AsrEvent::Partial("four one one".into()))
        );
        let r3 = pb::StreamingRecognizeResponse {
            results: vec![res("one", true)],
            ..Default::default()
        };
        assert_eq!(tr.response(&r3), None);
        assert_eq!(tr.result(), AsrEvent::Final("four one one".into()));
        let err = pb::StreamingRecognizeResponse {
            error: Some(pb::Status {
                code: 3,
                message: "bad audio".into(),
            }),
            ..Default::default()
        };
        assert!(
            matches!(tr.response(&err), Some(AsrEvent::Error(AsrError::Remote(m))) if m.contains("bad audio"))
        );
    }

    #[test]
    fn seed_urls_are_mapped() {
        assert_eq!(
            endpoint_url("grpc://localhost:50051"),
            "http://localhost:50051"
        );
        assert_eq!(
            endpoint_url("grpcs://asr.example:443"),
            "https://asr.example:443"
        );
        assert_eq!(endpoint_url("http://x:1"), "http://x:1");
    }
}
