//! What this server can execute, per node kind and provider, worked out from its configuration
//! ([`Capabilities::of`]). `run` and `validate` warn at load about every node whose kind is not
//! available here (`site`), and a live call that reaches one logs the same reason before it takes
//! the node's error branch.
//!
//! One field per node kind or provider that depends on the server. Making a kind real is local to
//! this file: compute its field from the configuration that enables it (a provider section, an
//! API key) and the load-time warning disappears by itself. Today OpenAI voice agents have no
//! runtime provider in this build, the `echo` agent, recording and bot streams (`stream`, both
//! protocols) are built in, `say` needs `espeak-ng` on the PATH, and `listen` needs its default
//! engine (`asr.engine`) to be able to run: the PocketSphinx model installed, or the server URL
//! of a remote engine.

use super::Config;

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
    /// `say`: text to speech (espeak-ng).
    pub say: Capability,
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
        let not_wired = |what: &str, branch: &str| {
            Capability::Unavailable(format!(
                "{what} has no provider in this build of phonetree: on a live call the node \
                 takes its {branch}"
            ))
        };
        let say = if on_path("espeak-ng") {
            Capability::Available
        } else {
            Capability::Unavailable(
                "espeak-ng is not installed: on a live call `say` is skipped \
                 (apt-get install espeak-ng)"
                    .into(),
            )
        };
        let agent_openai = if cfg.env.get("OPENAI_API_KEY").is_none_or(str::is_empty) {
            Capability::Unavailable(
                "no OpenAI API key (set OPENAI_API_KEY), and voice agents have no provider in \
                 this build of phonetree: on a live call the node takes its `on_error` (default \
                 `next`)"
                    .into(),
            )
        } else {
            not_wired("the OpenAI Realtime agent", "`on_error` (default `next`)")
        };
        Capabilities {
            say,
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
            ("say", _) => Some(&self.say),
            ("listen", _) => Some(&self.listen),
            ("agent", Some("openai") | None) => Some(&self.agent_openai),
            ("agent", Some("echo")) => Some(&self.agent_echo),
            ("stream", _) => Some(&self.stream),
            ("record", _) => Some(&self.record),
            _ => None,
        }
    }
}

/// `listen` runs when its default engine can: the PocketSphinx model is where
/// `asr.pocketsphinx.model` says or where pip puts it, or the remote engine has a URL.
fn listen(cfg: &Config) -> Capability {
    use crate::flow::program::AsrEngine;
    let missing = |what: &str| {
        Capability::Unavailable(format!(
            "speech recognition ({}) {what}: on a live call a listen takes its `on_fail` after              its tries",
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
                    "has no model: pip install pocketsphinx==5.1.1, or set                      asr.pocketsphinx.model",
                )
            }
        }
        AsrEngine::Websocket if cfg.asr.websocket_url.is_none() => {
            missing("needs asr.websocket.url")
        }
        AsrEngine::Axy if cfg.asr.axy_url.is_none() => missing("needs asr.axy.url"),
        AsrEngine::OpenAi if cfg.env.get("OPENAI_API_KEY").is_none_or(str::is_empty) => {
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
    }

    #[test]
    fn an_agent_without_an_openai_key_names_the_variable() {
        let no_key = Capabilities::of(&cfg(&[]), |_| false);
        let why = no_key.agent_openai.reason().unwrap();
        assert!(why.contains("OPENAI_API_KEY"), "{why}");
        let with_key = Capabilities::of(&cfg(&[("OPENAI_API_KEY", "sk-x")]), |_| false);
        assert!(!with_key
            .agent_openai
            .reason()
            .unwrap()
            .contains("OPENAI_API_KEY"));
        let why = no_key.say.reason().unwrap();
        assert!(why.contains("espeak-ng"), "{why}");
    }
}
