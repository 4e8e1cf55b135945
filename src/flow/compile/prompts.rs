//! Prompts: interning each prompt once per program and resolving it per theme against the
//! caller's [`SoundIndex`](super::SoundIndex): `<sound>/<theme>/<file>`, else `<sound>/<file>`.
//! `http://` and `https://` prompts are remote streams and are not looked up. A prompt written as
//! a template (`{{ vars.reply.audio_url }}`) is a remote stream whose URL is rendered when it
//! plays (the machine plays it only if it renders to an http(s) URL).

use crate::flow::program::{Prompt, PromptId, PromptSource};

use super::Builder;

impl Builder<'_> {
    /// Interns the prompt `name` written at `ptr`, reporting it if a theme lacks it.
    pub(super) fn prompt(&mut self, unit: usize, name: &str, ptr: &str) -> PromptId {
        let id = match self.prompt_ids.get(name) {
            Some(id) => *id,
            None => {
                let id = PromptId(self.prompts.len() as u32);
                let source = self.resolve_prompt(unit, name, ptr);
                self.prompts.push(Prompt {
                    name: name.to_owned(),
                    source,
                });
                self.prompt_ids.insert(name.to_owned(), id);
                id
            }
        };
        if !is_safe_relative(name) && !is_url(name) && !is_template(name) {
            let pos = self.value_pos(unit, ptr);
            self.error(
                unit,
                pos,
                "flow.bad_prompt",
                format!("prompt `{name}` is not a path inside the sound folder"),
                Some("write a relative path such as `menu.wav` (no leading `/`, no `..`)".into()),
            );
            return id;
        }
        if let Some(missing) = self.prompt_missing.get(name).filter(|m| !m.is_empty()) {
            let root = self.sounds.root().display().to_string();
            let (message, hint) = if missing.len() == 1 && missing[0].is_empty() {
                (
                    format!("prompt `{name}` not found"),
                    format!("looked for {root}/{name}"),
                )
            } else {
                let themes = missing.join(", ");
                (
                    format!(
                        "prompt `{name}` is missing for theme{} {themes}",
                        if missing.len() > 1 { "s" } else { "" }
                    ),
                    format!(
                        "add {root}/{}/{name} (or one {root}/{name} shared by every theme)",
                        missing[0]
                    ),
                )
            };
            let pos = self.value_pos(unit, ptr);
            self.error(unit, pos, "flow.missing_prompt", message, Some(hint));
        }
        id
    }

    fn resolve_prompt(&mut self, unit: usize, name: &str, ptr: &str) -> PromptSource {
        if is_template(name) {
            self.prompt_missing.insert(name.to_owned(), Vec::new());
            return PromptSource::UrlTemplate(self.text(unit, name, ptr));
        }
        if is_url(name) {
            self.prompt_missing.insert(name.to_owned(), Vec::new());
            return PromptSource::Url(name.to_owned());
        }
        let root = self.sounds.root().to_path_buf();
        let mut paths = Vec::with_capacity(self.theme_names.len());
        let mut missing = Vec::new();
        for theme in &self.theme_names {
            let themed = format!("{theme}/{name}");
            if !theme.is_empty() && self.sounds.contains(&themed) {
                paths.push(root.join(theme).join(name));
            } else if self.sounds.contains(name) {
                paths.push(root.join(name));
            } else {
                missing.push(theme.clone());
                paths.push(root.join(name));
            }
        }
        self.prompt_missing.insert(name.to_owned(), missing);
        PromptSource::File(paths)
    }
}

/// A prompt written as a template is a URL rendered when it plays (a file path is never
/// computed: a caller's value must not pick a file).
fn is_template(name: &str) -> bool {
    name.contains("{{")
}

fn is_url(name: &str) -> bool {
    name.starts_with("https://") || name.starts_with("http://")
}

fn is_safe_relative(name: &str) -> bool {
    !name.starts_with('/')
        && !name.starts_with('\\')
        && !name.contains(':')
        && name.split(['/', '\\']).all(|c| c != ".." && !c.is_empty())
}
