//! Walking a node's prompt lists in order without copying them.
//!
//! A gather retry plays its `invalid` (or `no_input`) prompts and then its prompt again; a
//! [`Playlist`] names up to two of the node's lists and a position, and [`Playlist::advance`]
//! returns the next [`PromptId`]. The lists live in the shared `Program`, so a playlist is a few
//! bytes of plain data.

use crate::flow::program::{NodeKind, PromptId};

/// One of a node's prompt lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    /// `play`'s prompts, or the `prompt` of a gather, listen or record.
    Main,
    /// A gather's `invalid`.
    Invalid,
    /// A gather's `no_input`.
    NoInput,
}

/// A position in one or two prompt lists of a node, played back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Playlist {
    parts: [Option<List>; 2],
    part: u8,
    index: u16,
}

impl Playlist {
    pub(crate) fn of(list: List) -> Playlist {
        Playlist {
            parts: [Some(list), None],
            part: 0,
            index: 0,
        }
    }

    pub(crate) fn then(first: List, second: List) -> Playlist {
        Playlist {
            parts: [Some(first), Some(second)],
            part: 0,
            index: 0,
        }
    }

    /// The next prompt, or `None` when every list is played.
    pub(crate) fn advance(&mut self, kind: &NodeKind) -> Option<PromptId> {
        while let Some(Some(list)) = self.parts.get(self.part as usize) {
            let prompts = prompts_of(kind, *list);
            if let Some(&p) = prompts.get(self.index as usize) {
                self.index += 1;
                return Some(p);
            }
            self.part += 1;
            self.index = 0;
        }
        None
    }
}

/// The prompts of `list` in a node (empty when the node has no such list).
pub(crate) fn prompts_of(kind: &NodeKind, list: List) -> &[PromptId] {
    match (kind, list) {
        (NodeKind::Play(p), List::Main) => &p.prompts,
        (NodeKind::Gather(g), List::Main) => &g.prompt,
        (NodeKind::Gather(g), List::Invalid) => &g.invalid,
        (NodeKind::Gather(g), List::NoInput) => &g.no_input,
        (NodeKind::Listen(l), List::Main) => &l.prompt,
        (NodeKind::Record(r), List::Main) => &r.prompt,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::program::{Play, Target};

    #[test]
    fn walks_two_lists_and_skips_missing_ones() {
        let kind = NodeKind::Play(Play {
            prompts: vec![PromptId(4), PromptId(5)],
            next: Target::Return,
        });
        let mut p = Playlist::then(List::Invalid, List::Main);
        assert_eq!(p.advance(&kind), Some(PromptId(4)));
        assert_eq!(p.advance(&kind), Some(PromptId(5)));
        assert_eq!(p.advance(&kind), None);
        assert_eq!(p.advance(&kind), None);
    }
}
