//! Whole-program checks on the compiled graph: unreachable nodes (warning) and loops in which
//! nothing waits for the caller (error `flow.endless_loop`).
//!
//! Instant nodes (`set`, `goto`, `switch`, `http`, `subflow` entry and return) pass control on
//! without waiting for the caller; a cycle made only of them spins forever. Each inlined file
//! gets a virtual "return" vertex whose edges go to the `next` of every subflow node calling it.

use std::collections::VecDeque;

use crate::flow::program::{KeyBinding, NodeId, NodeKind, Target, ToolAction};

use super::Builder;

impl Builder<'_> {
    pub(super) fn check_graph(&mut self, start: Option<NodeId>, keys: &[KeyBinding]) {
        let n = self.slots.len();
        let vertices = n + self.units.len();
        let mut all: Vec<Vec<usize>> = vec![Vec::new(); vertices];
        let mut instant: Vec<Vec<usize>> = vec![Vec::new(); vertices];
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(kind) = &slot.kind else {
                // Unreadable even in part: follow the names its links mention.
                let names = &self.units[slot.unit].names;
                all[i].extend(
                    slot.raw_links
                        .iter()
                        .filter_map(|l| names.get(l))
                        .map(|id| id.0 as usize),
                );
                continue;
            };
            let v = |t: Target| match t {
                Target::Node(id) => id.0 as usize,
                Target::Return => n + slot.unit,
            };
            let (edges, is_instant) = successors(kind);
            for t in edges {
                all[i].push(v(t));
                if is_instant {
                    instant[i].push(v(t));
                }
            }
            if let NodeKind::Subflow(s) = kind {
                // Reachability does not depend on the subflow returning.
                all[i].push(v(s.next));
                if !self.dangling.contains(&i) {
                    all[i].push(s.entry.0 as usize);
                    instant[i].push(s.entry.0 as usize);
                }
            }
        }
        for (u, unit) in self.units.iter().enumerate().skip(1) {
            for (caller, next) in &unit.callers_next {
                let to = match next {
                    Target::Node(id) => id.0 as usize,
                    Target::Return => n + caller,
                };
                all[n + u].push(to);
                instant[n + u].push(to);
            }
        }

        self.check_reachable(start, keys, &all);
        self.check_endless(&instant);
    }

    fn check_reachable(&mut self, start: Option<NodeId>, keys: &[KeyBinding], all: &[Vec<usize>]) {
        let Some(start) = start else { return };
        let mut seen = vec![false; all.len()];
        let mut queue = VecDeque::new();
        let roots =
            std::iter::once(start.0 as usize).chain(keys.iter().filter_map(|k| match k.goto {
                Some(Target::Node(id)) => Some(id.0 as usize),
                _ => None,
            }));
        for r in roots {
            if !seen[r] {
                seen[r] = true;
                queue.push_back(r);
            }
        }
        while let Some(v) = queue.pop_front() {
            for &w in &all[v] {
                if !seen[w] {
                    seen[w] = true;
                    queue.push_back(w);
                }
            }
        }
        let unreachable: Vec<(String, crate::flow::diag::Pos)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(i, s)| s.unit == 0 && !seen[*i])
            .map(|(_, s)| (s.name.clone(), s.pos))
            .collect();
        for (name, pos) in unreachable {
            self.warning(
                0,
                pos,
                "flow.unreachable",
                format!("node `{name}` is never reached"),
                Some("route to it from another node, or remove it".into()),
            );
        }
    }

    fn check_endless(&mut self, instant: &[Vec<usize>]) {
        let n = self.slots.len();
        for scc in strongly_connected(instant) {
            let self_loop = scc.len() == 1 && instant[scc[0]].contains(&scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let Some(&first) = scc.iter().filter(|&&v| v < n).min() else {
                continue;
            };
            let cycle = shortest_cycle(instant, &scc, first);
            let names: Vec<String> = cycle
                .iter()
                .map(|&v| {
                    if v < n {
                        format!("`{}`", self.slots[v].name)
                    } else {
                        "(return)".to_owned()
                    }
                })
                .collect();
            let slot = &self.slots[first];
            let (unit, pos) = (slot.unit, slot.pos);
            self.error(
                unit,
                pos,
                "flow.endless_loop",
                format!("endless loop: {} → `{}` never waits for the caller", names.join(" → "), self.slots[first].name),
                Some("put a node that waits (play, say, gather, listen, pause, ...) in the loop, or give it an exit".into()),
            );
        }
    }
}

/// Outgoing targets of a node, and whether it passes control on without waiting for the caller.
fn successors(kind: &NodeKind) -> (Vec<Target>, bool) {
    match kind {
        NodeKind::Play(p) => (vec![p.next], false),
        NodeKind::Say(s) => (vec![s.next], false),
        NodeKind::Gather(g) => (
            g.routes
                .iter()
                .map(|r| r.1)
                .chain(g.next)
                .chain(g.on_fail)
                .collect(),
            false,
        ),
        NodeKind::Listen(l) => (
            l.routes
                .iter()
                .map(|r| r.1)
                .chain(l.next)
                .chain(l.on_fail)
                .collect(),
            false,
        ),
        NodeKind::Http(h) => (vec![h.on_success, h.on_error], true),
        NodeKind::Switch(s) => (s.arms.iter().map(|a| a.1).collect(), true),
        NodeKind::Set(s) => (vec![s.next], true),
        NodeKind::Goto(t) => (vec![*t], true),
        // The subflow's own `next` is reached through the inlined file's return vertex.
        NodeKind::Subflow(_) => (Vec::new(), true),
        NodeKind::Pause(p) => (vec![p.next], false),
        NodeKind::Record(r) => (std::iter::once(r.next).chain(r.on_error).collect(), false),
        NodeKind::Agent(a) => (
            std::iter::once(a.next)
                .chain(a.on_error)
                .chain(a.tools.iter().filter_map(|t| match t.action {
                    ToolAction::Goto(to) => Some(to),
                    _ => None,
                }))
                .collect(),
            false,
        ),
        NodeKind::Stream(s) => (std::iter::once(s.next).chain(s.on_error).collect(), false),
        NodeKind::Transfer(t) => (t.on_fail.into_iter().collect(), false),
        NodeKind::Hangup(_) => (Vec::new(), false),
        NodeKind::Ack(a) => (vec![a.next], true),
    }
}

/// Tarjan's algorithm, iterative: the strongly connected components of a graph.
fn strongly_connected(graph: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = graph.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next_index = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&w) = graph[v].get(*edge) {
                *edge += 1;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut scc = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        scc.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(scc);
                }
            }
        }
    }
    out
}

/// The shortest cycle through `from` inside one component, as vertices starting at `from`.
fn shortest_cycle(graph: &[Vec<usize>], scc: &[usize], from: usize) -> Vec<usize> {
    let mut in_scc = std::collections::HashSet::with_capacity(scc.len());
    in_scc.extend(scc.iter().copied());
    let mut parent = std::collections::HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(v) = queue.pop_front() {
        for &w in &graph[v] {
            if w == from {
                let mut path = vec![v];
                let mut cur = v;
                while cur != from {
                    cur = parent[&cur];
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if in_scc.contains(&w) && !parent.contains_key(&w) && w != from {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![from]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_components_and_cycles() {
        // 0 → 1 → 2 → 0, 3 → 3, 4 → 0
        let g = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        let mut sccs: Vec<Vec<usize>> = strongly_connected(&g)
            .into_iter()
            .map(|mut s| {
                s.sort();
                s
            })
            .collect();
        sccs.sort();
        assert_eq!(sccs, vec![vec![0, 1, 2], vec![3], vec![4]]);
        assert_eq!(shortest_cycle(&g, &[0, 1, 2], 0), vec![0, 1, 2]);
        assert_eq!(shortest_cycle(&g, &[3], 3), vec![3]);
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let g: Vec<Vec<usize>> = (0..200_000)
            .map(|i| {
                if i + 1 < 200_000 {
                    vec![i + 1]
                } else {
                    vec![0]
                }
            })
            .collect();
        let sccs = strongly_connected(&g);
        assert_eq!(sccs.len(), 1);
    }
}
