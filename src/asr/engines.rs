//! The recognizers a server has: built once from the `asr:` configuration, asked for one
//! [`Recognizer`] per listen attempt.
//!
//! PocketSphinx starts its threads and loads its model at startup (a missing model is reported
//! then, and `listen` nodes on that engine fail with the reason instead of the server failing);
//! the network engines only keep their settings and connect per attempt. The `openai` engine is
//! plugged in by the OpenAI integration ([`Engines::with_openai`]).

use std::sync::Arc;
use std::time::Duration;

use super::axy::{self, AxyConfig};
use super::pocketsphinx::pool::{PocketSphinx, PoolSize};
use super::pocketsphinx::{model, Model};
use super::vosk::{self, VoskConfig};
use super::{AsrError, Recognizer, Request};
use crate::config::asr::AsrConfig;
use crate::flow::program::AsrEngine;

/// Makes a recognizer for the `openai` engine (the Realtime transcription session).
pub type OpenAiRecognizer = Arc<dyn Fn(&Request) -> Recognizer + Send + Sync>;

/// Every engine this server can use, with the defaults of `asr:`.
#[derive(Clone)]
pub struct Engines {
    pub default: AsrEngine,
    pub language: String,
    pub silence: Duration,
    pub max_speech: Duration,
    pocketsphinx: Result<PocketSphinx, AsrError>,
    websocket: Option<VoskConfig>,
    axy: Option<AxyConfig>,
    openai: Option<OpenAiRecognizer>,
}

impl Engines {
    /// Starts what runs locally. Never fails: an engine that cannot run reports why on use
    /// ([`Engines::problem`]).
    pub fn start(cfg: &AsrConfig) -> Engines {
        let pocketsphinx = model::locate(cfg.pocketsphinx_model.as_deref())
            .and_then(|dir| Model::open(&dir))
            .map_err(|e| AsrError::NotConfigured(e.to_string()))
            .and_then(|model| {
                let threads = cfg
                    .pocketsphinx_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                PocketSphinx::start(
                    model,
                    PoolSize {
                        threads,
                        decoders_per_thread: cfg.pocketsphinx_decoders,
                    },
                )
            });
        Engines {
            default: cfg.engine,
            language: cfg.language.clone(),
            silence: cfg.silence,
            max_speech: cfg.max_speech,
            pocketsphinx,
            websocket: cfg.websocket_url.as_ref().map(|url| VoskConfig {
                url: url.clone(),
                connect_timeout: cfg.connect_timeout,
                result_timeout: cfg.result_timeout,
            }),
            axy: cfg.axy_url.as_ref().map(|url| AxyConfig {
                url: url.clone(),
                connect_timeout: cfg.connect_timeout,
                result_timeout: cfg.result_timeout,
            }),
            openai: None,
        }
    }

    /// Plugs in the `openai` engine.
    pub fn with_openai(mut self, make: OpenAiRecognizer) -> Engines {
        self.openai = Some(make);
        self
    }

    /// Why `engine` cannot run here, if it cannot.
    pub fn problem(&self, engine: AsrEngine) -> Option<AsrError> {
        match engine {
            AsrEngine::PocketSphinx => self.pocketsphinx.as_ref().err().cloned(),
            AsrEngine::Websocket if self.websocket.is_none() => Some(AsrError::NotConfigured(
                "asr.websocket.url is not set".into(),
            )),
            AsrEngine::Axy if self.axy.is_none() => {
                Some(AsrError::NotConfigured("asr.axy.url is not set".into()))
            }
            AsrEngine::OpenAi if self.openai.is_none() => Some(AsrError::NotConfigured(
                "the openai engine needs openai.api_key".into(),
            )),
            _ => None,
        }
    }

    /// A recognizer for one attempt (one that fails at once when the engine cannot run),
    /// reporting its latency and errors under the engine's name ([`super::meter`]).
    pub fn recognizer(&self, engine: AsrEngine, req: &Request) -> Recognizer {
        self.unmetered(engine, req).metered(engine.as_str())
    }

    fn unmetered(&self, engine: AsrEngine, req: &Request) -> Recognizer {
        match engine {
            AsrEngine::PocketSphinx => match &self.pocketsphinx {
                Ok(ps) => ps.recognizer(req),
                Err(e) => Recognizer::failed(e.clone()),
            },
            AsrEngine::Websocket => match &self.websocket {
                Some(cfg) => vosk::start(cfg, req),
                None => Recognizer::failed(self.problem(engine).unwrap_or(AsrError::Overloaded)),
            },
            AsrEngine::Axy => match &self.axy {
                Some(cfg) => axy::start(cfg, req),
                None => Recognizer::failed(self.problem(engine).unwrap_or(AsrError::Overloaded)),
            },
            AsrEngine::OpenAi => match &self.openai {
                Some(make) => make(req),
                None => Recognizer::failed(self.problem(engine).unwrap_or(AsrError::Overloaded)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_engines_name_what_is_missing() {
        let cfg = AsrConfig {
            pocketsphinx_model: Some("/nonexistent/model".into()),
            ..AsrConfig::default()
        };
        let e = Engines::start(&cfg);
        for engine in [
            AsrEngine::Websocket,
            AsrEngine::Axy,
            AsrEngine::OpenAi,
            AsrEngine::PocketSphinx,
        ] {
            assert!(
                matches!(e.problem(engine), Some(AsrError::NotConfigured(_))),
                "{engine:?}"
            );
        }
        let msg = e.problem(AsrEngine::Websocket).unwrap().to_string();
        assert!(msg.contains("asr.websocket.url"), "{msg}");
        let mut rec = e.recognizer(
            AsrEngine::Axy,
            &Request {
                language: "en-US".into(),
                grammar: None,
                call: "c".into(),
                silence: Duration::from_millis(700),
            },
        );
        assert!(matches!(
            rec.try_event(),
            Some(super::super::AsrEvent::Error(_))
        ));
    }
}
