//! The conversation's transcript, in the order its items entered the conversation.
//!
//! Transcripts arrive out of order: the agent's with its response, the caller's (input
//! transcription) asynchronously, possibly after the next response. Items are placed when they
//! appear (`conversation.item.added`, a commit, the first audio of an agent item) and their text
//! filled in when it comes. Bounded: at most [`MAX_ENTRIES`] items of at most [`MAX_TEXT`]
//! characters each.

use serde_json::{json, Value};

pub const MAX_ENTRIES: usize = 500;
pub const MAX_TEXT: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Caller,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caller => "caller",
            Role::Agent => "agent",
        }
    }
}

#[derive(Debug)]
struct Entry {
    item_id: String,
    role: Role,
    text: Option<String>,
    interrupted: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Transcript {
    entries: Vec<Entry>,
}

impl Transcript {
    /// An item appeared (ignored if known, or when full).
    pub(crate) fn place(&mut self, item_id: &str, role: Role) {
        if self.entries.len() >= MAX_ENTRIES || self.find(item_id).is_some() {
            return;
        }
        self.entries.push(Entry {
            item_id: item_id.to_owned(),
            role,
            text: None,
            interrupted: false,
        });
    }

    /// The text of an item (placing it if it was not seen before).
    pub(crate) fn text(&mut self, item_id: &str, role: Role, text: &str) {
        self.place(item_id, role);
        if let Some(i) = self.find(item_id) {
            self.entries[i].text = Some(text.chars().take(MAX_TEXT).collect());
        }
    }

    /// More words of an item (kept until its full text comes).
    pub(crate) fn append(&mut self, item_id: &str, role: Role, delta: &str) {
        self.place(item_id, role);
        if let Some(i) = self.find(item_id) {
            let text = self.entries[i].text.get_or_insert_with(String::new);
            let room = MAX_TEXT.saturating_sub(text.chars().count());
            text.extend(delta.chars().take(room));
        }
    }

    /// The caller did not hear all of this item.
    pub(crate) fn interrupted(&mut self, item_id: &str) {
        if let Some(i) = self.find(item_id) {
            self.entries[i].interrupted = true;
        }
    }

    fn find(&self, item_id: &str) -> Option<usize> {
        self.entries.iter().rposition(|e| e.item_id == item_id)
    }

    /// `[{role, text, interrupted?}]` for the items that have text.
    pub(crate) fn to_json(&self) -> Value {
        Value::Array(
            self.entries
                .iter()
                .filter_map(|e| {
                    let text = e.text.as_ref()?;
                    let mut v = json!({"role": e.role.as_str(), "text": text});
                    if e.interrupted {
                        v["interrupted"] = Value::Bool(true);
                    }
                    Some(v)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_appearance_not_by_arrival_of_text() {
        let mut t = Transcript::default();
        t.place("u1", Role::Caller);
        t.text("a1", Role::Agent, "Hello, how can I help?");
        t.text("u1", Role::Caller, "I want my balance");
        t.place("u2", Role::Caller); // never transcribed
        t.interrupted("a1");
        assert_eq!(
            t.to_json(),
            json!([
                {"role": "caller", "text": "I want my balance"},
                {"role": "agent", "text": "Hello, how can I help?", "interrupted": true}
            ])
        );
    }

    #[test]
    fn bounded() {
        let mut t = Transcript::default();
        for i in 0..MAX_ENTRIES + 10 {
            t.text(&format!("i{i}"), Role::Agent, &"x".repeat(MAX_TEXT + 5));
        }
        let v = t.to_json();
        assert_eq!(v.as_array().unwrap().len(), MAX_ENTRIES);
        assert_eq!(v[0]["text"].as_str().unwrap().len(), MAX_TEXT);
    }
}
