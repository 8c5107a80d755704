//! The rules behind an updatable table: a binary trie, one node per bit, in an arena. The tables
//! ask it what a prefix's removal uncovers and walk it to rebuild the part an update touched.
//!
//! A table may ask for an index of the trie's nodes at one depth (Poptrie's direct-table width):
//! then an insert of a longer prefix starts its walk there instead of at the root, and the table
//! finds the node under a direct entry without a walk. Each level of the walk is a dependent
//! load from a trie of a few million nodes, most of an update's time on a full table.

use std::marker::PhantomData;

use super::{NO_ROUTE, NextHop};
use crate::{Error, Key, Prefix};

/// Arena index of a trie node. The root is 0, so 0 also means "no child".
pub(crate) type NodeId = u32;

#[derive(Clone, Copy, Debug, Default)]
struct TrieNode {
    child: [NodeId; 2],
    nh: NextHop,
}

/// The prefixes of a table, in a binary trie.
#[derive(Clone, Debug)]
pub(crate) struct Rules<K> {
    nodes: Vec<TrieNode>,
    free: Vec<NodeId>,
    len: usize,
    /// Depth of the index (0: none).
    depth: u8,
    /// The node at `depth` under each `depth`-bit key prefix, or 0.
    index: Vec<NodeId>,
    _key: PhantomData<K>,
}

// ===== impl Rules =====

impl<K: Key> Rules<K> {
    pub(crate) fn new() -> Self {
        Rules {
            nodes: vec![TrieNode::default()],
            free: Vec::new(),
            len: 0,
            depth: 0,
            index: Vec::new(),
            _key: PhantomData,
        }
    }

    /// Rules that index their nodes at `depth` bits (1..=24) for [`Rules::node_at_index`].
    pub(crate) fn indexed(depth: u8) -> Self {
        Rules {
            depth,
            index: vec![0; 1 << depth],
            ..Self::new()
        }
    }

    /// The node `depth` bits down along `key`, if the trie goes that deep.
    #[inline]
    pub(crate) fn node_at_index(&self, key: K) -> Option<NodeId> {
        if self.depth == 0 {
            return None;
        }
        let n = *self.index.get(key.top(u32::from(self.depth)))?;
        (n != 0).then_some(n)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Sets `p`'s next hop; returns the one it replaced.
    pub(crate) fn insert(&mut self, p: Prefix<K>, nh: NextHop) -> Result<Option<NextHop>, Error> {
        let indexed = self.depth != 0 && p.len() >= self.depth;
        let (mut n, from) = self.start(p);
        for i in from..p.len() {
            let b = p.addr().bit(i);
            let next = self.nodes[n as usize].child[b];
            n = if next != 0 {
                next
            } else {
                let new = self.alloc()?;
                self.nodes[n as usize].child[b] = new;
                if indexed && i + 1 == self.depth {
                    self.index[p.addr().top(u32::from(self.depth))] = new;
                }
                new
            };
        }
        let old = std::mem::replace(&mut self.nodes[n as usize].nh, nh);
        self.len += usize::from(old == NO_ROUTE);
        Ok((old != NO_ROUTE).then_some(old))
    }

    /// Removes `p`, pruning nodes left with neither route nor child.
    pub(crate) fn remove(&mut self, p: Prefix<K>) -> Option<NextHop> {
        // The path from the root, without allocating: at most 129 nodes; from the index down
        // when the prefix lies under it (the part above is walked only if pruning reaches it).
        let mut path = [0; 129];
        let (mut n, from) = self.start(p);
        path[usize::from(from)] = n;
        for i in from..p.len() {
            n = self.nodes[n as usize].child[p.addr().bit(i)];
            if n == 0 {
                return None;
            }
            path[usize::from(i) + 1] = n;
        }
        let old = std::mem::replace(&mut self.nodes[n as usize].nh, NO_ROUTE);
        if old == NO_ROUTE {
            return None;
        }
        self.len -= 1;
        for i in (1..=usize::from(p.len())).rev() {
            let node = self.nodes[path[i] as usize];
            if node.nh != NO_ROUTE || node.child != [0, 0] {
                break;
            }
            if i == usize::from(from) {
                for j in 0..from {
                    path[usize::from(j) + 1] =
                        self.nodes[path[usize::from(j)] as usize].child[p.addr().bit(j)];
                }
            }
            self.nodes[path[i - 1] as usize].child[p.addr().bit(i as u8 - 1)] = 0;
            self.free.push(path[i]);
            if i == usize::from(self.depth) {
                self.index[p.addr().top(u32::from(self.depth))] = 0;
            }
        }
        Some(old)
    }

    /// Where a walk to `p` may start: the indexed node above it, or the root.
    fn start(&self, p: Prefix<K>) -> (NodeId, u8) {
        match self.node_at_index(p.addr()) {
            Some(n) if p.len() >= self.depth => (n, self.depth),
            _ => (0, 0),
        }
    }

    /// Walks from the root along `key` for `depth` bits. Returns the node reached (if the trie
    /// goes that deep) and the next hop of the longest prefix of length `<= depth` on the way.
    pub(crate) fn descend(&self, key: K, depth: u8) -> (Option<NodeId>, NextHop) {
        self.descend_from(0, key, 0, depth, self.nodes[0].nh)
    }

    /// Like [`Rules::descend`], from node `n` at depth `from` with `best` covering it so far.
    pub(crate) fn descend_from(
        &self,
        mut n: NodeId,
        key: K,
        from: u8,
        depth: u8,
        mut best: NextHop,
    ) -> (Option<NodeId>, NextHop) {
        for i in from..depth {
            n = self.nodes[n as usize].child[key.bit(i)];
            if n == 0 {
                return (None, best);
            }
            best = self.nh_or(n, best);
        }
        (Some(n), best)
    }

    /// The longest prefix strictly shorter than `p` that covers it: `(next hop, length)`, or
    /// `(NO_ROUTE, 0)`.
    pub(crate) fn covering(&self, p: Prefix<K>) -> (NextHop, u8) {
        let mut n = 0;
        let mut best = (self.nodes[0].nh, 0);
        for i in 0..p.len().saturating_sub(1) {
            n = self.nodes[n as usize].child[p.addr().bit(i)];
            if n == 0 {
                break;
            }
            if self.nodes[n as usize].nh != NO_ROUTE {
                best = (self.nodes[n as usize].nh, i + 1);
            }
        }
        best
    }

    /// Whether `n` has a child, i.e. prefixes longer than its depth lie under it.
    pub(crate) fn has_children(&self, n: NodeId) -> bool {
        self.nodes[n as usize].child != [0, 0]
    }

    /// Calls `f(slot, node, best)` for each of the `2^width` slots under `start` (a node or an
    /// absent subtree), in order: `node` is the trie node `width` bits below, `best` the next hop
    /// of the longest prefix covering the whole slot, `inherited` if none below `start` does.
    pub(crate) fn expand(
        &self,
        start: Option<NodeId>,
        width: u32,
        inherited: NextHop,
        f: &mut impl FnMut(usize, Option<NodeId>, NextHop),
    ) {
        self.expand_at(start, width, 0, inherited, f);
    }

    fn expand_at(
        &self,
        n: Option<NodeId>,
        width: u32,
        slot: usize,
        best: NextHop,
        f: &mut impl FnMut(usize, Option<NodeId>, NextHop),
    ) {
        let best = n.map_or(best, |n| self.nh_or(n, best));
        match n {
            _ if width == 0 => f(slot, n, best),
            None => (slot..slot + (1 << width)).for_each(|s| f(s, None, best)),
            Some(n) => {
                let [l, r] = self.nodes[n as usize].child.map(|c| (c != 0).then_some(c));
                self.expand_at(l, width - 1, slot, best, f);
                self.expand_at(r, width - 1, slot + (1 << (width - 1)), best, f);
            }
        }
    }

    fn nh_or(&self, n: NodeId, best: NextHop) -> NextHop {
        match self.nodes[n as usize].nh {
            NO_ROUTE => best,
            nh => nh,
        }
    }

    fn alloc(&mut self) -> Result<NodeId, Error> {
        if let Some(n) = self.free.pop() {
            self.nodes[n as usize] = TrieNode::default();
            return Ok(n);
        }
        let n = NodeId::try_from(self.nodes.len()).map_err(|_| Error::TableFull("rule trie"))?;
        self.nodes.push(TrieNode::default());
        Ok(n)
    }
}
