//! What this server can execute, per node kind and provider, worked out from its configuration
//! ([`Capabilities::of`]). `run` and `validate` warn at load about every node whose kind is not
//! available here (`site`), and a live call that reaches one logs the same reason before it takes
//! the node's error branch.
//!
//! One field per node kind or provider that depends on the server. Making a kind real is local to
//! this file: compute its field from the configuration that enables it (a provider section, an
//! API key) and the load-time warning disappears by itself. OpenAI voice agents need
//! `openai.api_key`; the `echo` agent, recording and bot streams (`stream`, both protocols) are
//! built in; `say` needs its engine (espeak-ng on the PATH, Piper's command and a voice, an OpenAI
//! key, or a TTS server URL); `listen` needs its default engine (`asr.engine`) to be able to run:
//! the PocketSphinx model installed, the server URL of a remote engine, or an OpenAI key.

use super::Config;
use crate::flow::program::TtsEngine;

/// Whether this server can run a node kind, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    Available,
    /// Why not, in words a flow author can act on.
    Unavailable(String),
}

impl Capability {
    pub fn is_available(&self) -> bool {
        matches!(self, Capability::Available)
    }

    /// The reason it is not available (`None` when it is).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Capability::Available => None,
            Capability::Unavailable(r) => Some(r),
        }
    }
}

/// One field per node kind (or kind and provider) whose execution depends on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `say` with the configured engine (`tts.engine`).
    pub say: Capability,
    /// `say` with each engine (a node's `say.engine`).
    pub say_engines: [(TtsEngine, Capability); 4],
    /// `listen`: speech recognition.
    pub listen: Capability,
    /// `agent` with `provider: openai` (OpenAI Realtime).
    pub agent_openai: Capability,
    /// `agent` with `provider: echo` (the caller's audio played back; built in).
    pub agent_echo: Capability,
    /// `stream`: bot websockets.
    pub stream: Capability,
    /// `record`: storing the caller's audio.
    pub record: Capability,
}

impl Capabilities {
    /// From the configuration; `on_path(program)` tells whether an external program is installed.
    pub fn of(cfg: &Config, on_path: impl Fn(&str) -> bool) -> Capabilities {
        let say_engines = TtsEngine::ALL.map(|e| (e, tts_capability(cfg, e, &on_path)));
        let say = say_engines
            .iter()
            .find(|(e, _)| *e == cfg.tts.engine)
            .map(|(_, c)| c.clone())
            .unwrap_or(Capability::Available);
        let agent_openai = if cfg.openai.api_key.is_none() {
            Capability::Unavailable(
                "no OpenAI API key (set OPENAI_API_KEY): on a live call the node takes its \
                 `on_error` (default `next`)"
                    .into(),
            )
        } else {
            Capability::Available
        };
        Capabilities {
            say,
            say_engines,
            listen: listen(cfg),
            agent_openai,
            agent_echo: Capability::Available,
            stream: Capability::Available,
            record: Capability::Available,
        }
    }

    /// [`Capabilities::of`] with the real PATH.
    pub fn detect(cfg: &Config) -> Capabilities {
        Capabilities::of(cfg, on_path)
    }

    /// The capability a node of `kind` (with `provider`, for agents) needs; `None` for kinds
    /// every server runs.
    pub fn for_node(&self, kind: &str, provider: Option<&str>) -> Option<&Capability> {
        match (kind, provider) {
            ("say", Some(engine)) => self
                .say_engines
                .iter()
                .find(|(e, _)| e.as_str() == engine)
                .map(|(_, c)| c),
            ("say", None) => Some(&self.say),
            ("listen", _) => Some(&self.listen),
            ("agent", Some("openai") | None) => Some(&self.agent_openai),
            ("agent", Some("echo")) => Some(&self.agent_echo),
            ("stream", _) => Some(&self.stream),
            ("record", _) => Some(&self.record),
            _ => None,
        }
    }
}

/// Whether `say` can speak with `engine` here.
fn tts_capability(cfg: &Config, engine: TtsEngine, on_path: &impl Fn(&str) -> bool) -> Capability {
    let skipped = "on a live call `say` is skipped";
    let why = match engine {
        TtsEngine::EspeakNg if on_path("espeak-ng") => return Capability::Available,
        TtsEngine::EspeakNg => {
            format!("espeak-ng is not installed: {skipped} (apt-get install espeak-ng)")
        }
        TtsEngine::Piper => {
            let cmd = &cfg.tts.piper_command;
            let found = if cmd.components().count() > 1 {
                cmd.is_file()
            } else {
                on_path(&cmd.to_string_lossy())
            };
            match (found, &cfg.tts.piper_voice) {
                (true, Some(_)) => return Capability::Available,
                (false, _) => format!(
                    "Piper is not installed ({} not found; pip install piper-tts, or set \
                     tts.piper.command): {skipped}",
                    cmd.display()
                ),
                (true, None) => {
                    format!("no Piper voice (set tts.piper.voice to a .onnx model): {skipped}")
                }
            }
        }
        TtsEngine::OpenAi if cfg.openai.api_key.is_some() => return Capability::Available,
        TtsEngine::OpenAi => format!("no OpenAI API key (set OPENAI_API_KEY): {skipped}"),
        TtsEngine::Http if cfg.tts.http_url.is_some() => return Capability::Available,
        TtsEngine::Http => format!("no TTS server (set tts.http.url): {skipped}"),
    };
    Capability::Unavailable(why)
}

/// `listen` runs when its default engine can: the PocketSphinx model is where
/// `asr.pocketsphinx.model` says or where pip puts it, or the remote engine has a URL.
fn listen(cfg: &Config) -> Capability {
    use crate::flow::program::AsrEngine;
    let missing = |what: &str| {
        Capability::Unavailable(format!(
            "speech recognition ({}) {what}: on a live call a listen takes its `on_fail` after \
             its tries",
            cfg.asr.engine.as_str()
        ))
    };
    match cfg.asr.engine {
        AsrEngine::PocketSphinx => {
            let found = match &cfg.asr.pocketsphinx_model {
                Some(dir) => dir.is_dir(),
                None => crate::asr::pocketsphinx::model::discover().is_some(),
            };
            if found {
                Capability::Available
            } else {
                missing(
                    "has no model: pip install pocketsphinx==5.1.1, or set \
                     asr.pocketsphinx.model",
                )
            }
        }
        AsrEngine::Websocket if cfg.asr.websocket_url.is_none() => {
            missing("needs asr.websocket.url")
        }
        AsrEngine::Axy if cfg.asr.axy_url.is_none() => missing("needs asr.axy.url"),
        AsrEngine::OpenAi if cfg.openai.api_key.is_none() => {
            missing("needs an OpenAI API key (OPENAI_API_KEY)")
        }
        _ => Capability::Available,
    }
}

/// Whether `program` is an executable file in a PATH folder.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::super::{load, Sources};
    use super::*;

    fn cfg(env: &[(&str, &str)]) -> Config {
        load(&Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sources::default()
        })
        .unwrap()
    }

    #[test]
    fn kinds_without_a_provider_say_why() {
        let c = Capabilities::of(
            &cfg(&[("PHONETREE_ASR_POCKETSPHINX_MODEL", "/nonexistent/model")]),
            |p| p == "espeak-ng",
        );
        assert!(c.say.is_available());
        assert!(c.record.is_available());
        assert!(
            c.for_node("stream", None).unwrap().is_available(),
            "built in"
        );
        for kind in ["listen", "agent"] {
            let cap = c.for_node(kind, None).unwrap();
            assert!(!cap.is_available(), "{kind}");
            assert!(
                cap.reason().unwrap().contains("live call"),
                "{kind}: {cap:?}"
            );
        }
        assert!(c.for_node("agent", Some("echo")).unwrap().is_available());
        assert!(c.for_node("play", None).is_none());
        assert!(c.for_node("http", None).is_none());
        let why = c.listen.reason().unwrap();
        assert!(why.contains("pip install pocketsphinx"), "{why}");
    }

    #[test]
    fn listen_follows_its_default_engine() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().to_string_lossy().into_owned();
        let c = Capabilities::of(
            &cfg(&[("PHONETREE_ASR_POCKETSPHINX_MODEL", &model)]),
            |_| false,
        );
        assert!(c.listen.is_available());
        let c = Capabilities::of(&cfg(&[("PHONETREE_ASR_ENGINE", "websocket")]), |_| false);
        assert!(c.listen.reason().unwrap().contains("asr.websocket.url"));
        let c = Capabilities::of(
            &cfg(&[
                ("PHONETREE_ASR_ENGINE", "axy"),
                ("PHONETREE_ASR_AXY_URL", "grpc://127.0.0.1:50051"),
            ]),
            |_| false,
        );
        assert!(c.listen.is_available());
        let c = Capabilities::of(&cfg(&[("PHONETREE_ASR_ENGINE", "openai")]), |_| false);
        assert!(c.listen.reason().unwrap().contains("OPENAI_API_KEY"));
        let c = Capabilities::of(
            &cfg(&[
                ("PHONETREE_ASR_ENGINE", "openai"),
                ("OPENAI_API_KEY", "sk-x"),
            ]),
            |_| false,
        );
        assert!(c.listen.is_available());
    }

    #[test]
    fn an_agent_without_an_openai_key_names_the_variable() {
        let no_key = Capabilities::of(&cfg(&[]), |_| false);
        let why = no_key.agent_openai.reason().unwrap();
        assert!(why.contains("OPENAI_API_KEY"), "{why}");
        let with_key = Capabilities::of(&cfg(&[("OPENAI_API_KEY", "sk-x")]), |_| false);
        assert!(with_key.agent_openai.is_available());
        let why = no_key.say.reason().unwrap();
        assert!(why.contains("espeak-ng"), "{why}");
    }

    #[test]
    fn each_say_engine_says_what_it_needs() {
        let c = Capabilities::of(&cfg(&[]), |p| p == "espeak-ng");
        let why = |e: &str| {
            c.for_node("say", Some(e))
                .unwrap()
                .reason()
                .map(str::to_owned)
        };
        assert_eq!(why("espeak-ng"), None);
        assert!(why("piper").unwrap().contains("piper-tts"));
        assert!(why("openai").unwrap().contains("OPENAI_API_KEY"));
        assert!(why("http").unwrap().contains("tts.http.url"));
        let c = Capabilities::of(
            &cfg(&[
                ("PHONETREE_TTS_ENGINE", "piper"),
                ("PHONETREE_TTS_PIPER_VOICE", "/v/joe.onnx"),
                ("PHONETREE_TTS_HTTP_URL", "http://127.0.0.1:5000/synthesize"),
            ]),
            |p| p == "piper",
        );
        assert!(c.say.is_available(), "{:?}", c.say);
        assert!(c.for_node("say", Some("http")).unwrap().is_available());
    }
}
