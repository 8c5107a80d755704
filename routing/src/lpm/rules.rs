//! The rules behind an updatable table: a multibit trie of the prefixes, in an arena. The tables
//! ask it what a prefix's removal uncovers and what lies under each slot of the part an update
//! touched.
//!
//! Nodes sit at depths 0, `first`, `first + 6`, `first + 12`, ...: the root has a stride of
//! `first` bits (1..=6), every other node 6, so that a table whose own nodes start at depth
//! `first + 6k` (Poptrie's direct table) finds one rule node per node of its own. A node says
//! in bitmaps which of the prefixes 1 to 6 bits longer than its depth it has (126 possible, a
//! prefix tree in an array) and which of its 64 slots have a child; their next hops and child
//! ids lie packed in blocks of two arenas. A node exists only while a prefix lies below it.
//! An update on a full table touches two or three nodes of 32 bytes and their blocks, where a
//! binary trie made it chase one dependent cache miss per bit. The rules of the full tables
//! take 9.5 MiB (IPv4, 998k prefixes) and 5.3 MiB (IPv6, 160k), allocated capacity counted.
//!
//! A table may ask for an index of the nodes at one depth (Poptrie's direct-table width), which
//! spares the walk from the root to them.

use std::marker::PhantomData;

use super::arena::Arena;
use super::{NO_ROUTE, NextHop};
use crate::{Error, Key, Prefix};

/// Arena index of a rule node. The root is 0, so 0 also means "no child".
pub(crate) type NodeId = u32;

/// Bits per level below the root.
const STRIDE: u32 = 6;

/// The prefixes `r` bits (1..=6) longer than a node's depth, whose extra bits are `b`.
#[inline]
fn entry(r: u32, b: usize) -> usize {
    (1 << r) - 2 + b
}

/// One level of the trie: the prefixes it ends and where its children are.
#[derive(Clone, Copy, Debug, Default)]
struct RuleNode {
    /// Bit [`entry`] set where the node has that prefix.
    have: [u64; 2],
    /// Bit `s` set where slot `s` has a child.
    kidmap: u64,
    /// The node's next hops in `Rules::nhs`, in entry order.
    nh_base: u32,
    /// The node's children in `Rules::kids`, in slot order.
    kid_base: u32,
}
const _: () = assert!(size_of::<RuleNode>() == 32);

/// What each slot of a node holds: the next hop of the longest prefix covering the whole slot,
/// and the node below it, if any. Only the first `2^stride` slots are meaningful.
pub(crate) struct Slots<'a> {
    pub(crate) best: [NextHop; 64],
    /// The slots that have a node below them, as a bitmap.
    pub(crate) kid_mask: u64,
    /// The nodes below, in slot order.
    kids: &'a [NodeId],
}

/// The prefixes of a table, in a multibit trie.
#[derive(Clone, Debug)]
pub(crate) struct Rules<K> {
    nodes: Vec<RuleNode>,
    free: Vec<NodeId>,
    nhs: Arena<NextHop>,
    kids: Arena<NodeId>,
    /// The zero-length prefix.
    default: NextHop,
    len: usize,
    /// Stride of the root.
    first: u8,
    /// Depth of the index (0: none).
    depth: u8,
    /// The node at `depth` under each `depth`-bit key prefix, or 0.
    index: Vec<NodeId>,
    _key: PhantomData<K>,
}

// ===== impl Rules =====

impl<K: Key> Rules<K> {
    /// Rules with nodes every 6 bits from the root.
    pub(crate) fn new() -> Self {
        Rules {
            nodes: vec![RuleNode::default()],
            free: Vec::new(),
            nhs: Arena::new("rule next hops"),
            kids: Arena::new("rule children"),
            default: NO_ROUTE,
            len: 0,
            first: STRIDE as u8,
            depth: 0,
            index: Vec::new(),
            _key: PhantomData,
        }
    }

    /// Rules with a level of nodes at `depth` bits (1..=24), indexed for
    /// [`Rules::node_at_index`].
    pub(crate) fn indexed(depth: u8) -> Self {
        Rules {
            first: (depth - 1) % STRIDE as u8 + 1,
            depth,
            index: vec![0; 1 << depth],
            ..Self::new()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stride of node `n`.
    #[inline]
    fn stride(&self, n: NodeId) -> u32 {
        if n == 0 {
            u32::from(self.first)
        } else {
            STRIDE
        }
    }

    /// The node at the index depth along `key`, if any prefix lies below it.
    #[inline]
    pub(crate) fn node_at_index(&self, key: K) -> Option<NodeId> {
        if self.depth == 0 {
            return None;
        }
        let n = *self.index.get(key.top(u32::from(self.depth)))?;
        (n != 0).then_some(n)
    }

    /// Sets `p`'s next hop; returns the one it replaced.
    pub(crate) fn insert(&mut self, p: Prefix<K>, nh: NextHop) -> Result<Option<NextHop>, Error> {
        let (key, len) = (p.addr(), u32::from(p.len()));
        if len == 0 {
            let old = std::mem::replace(&mut self.default, nh);
            self.len += usize::from(old == NO_ROUTE);
            return Ok((old != NO_ROUTE).then_some(old));
        }
        let (mut n, mut d) = self.start(p);
        loop {
            let w = self.stride(n);
            if len <= d + w {
                break;
            }
            n = self.kid_or_new(n, slot_bits(key, d, w), d + w, key)?;
            d += w;
        }
        let e = entry(len - d, slot_bits(key, d, len - d));
        let node = &mut self.nodes[n as usize];
        let at = node.rank(e);
        if node.has(e) {
            let old = std::mem::replace(&mut self.nhs.items[node.nh_base as usize + at], nh);
            return Ok(Some(old));
        }
        let count = node.count();
        self.nhs.insert(&mut node.nh_base, count, at, nh)?;
        node.have[e / 64] |= 1 << (e % 64);
        self.len += 1;
        Ok(None)
    }

    /// Removes `p`, pruning nodes left with neither prefix nor child.
    pub(crate) fn remove(&mut self, p: Prefix<K>) -> Option<NextHop> {
        let (key, len) = (p.addr(), u32::from(p.len()));
        if len == 0 {
            let old = std::mem::replace(&mut self.default, NO_ROUTE);
            self.len -= usize::from(old != NO_ROUTE);
            return (old != NO_ROUTE).then_some(old);
        }
        // The path of (node, slot of the child taken, depth): at most 128 / 6 + 2 levels, from
        // the index down if the prefix lies below it; the part above is walked only if
        // pruning reaches the indexed node.
        let mut path = [(0, 0, 0); 24];
        let start = self.start(p);
        let mut from = start.1;
        let (mut levels, mut n, d) = self.walk(key, start, len, &mut path)?;
        let e = entry(len - d, slot_bits(key, d, len - d));
        let node = &mut self.nodes[n as usize];
        if !node.has(e) {
            return None;
        }
        let at = node.rank(e);
        let old = self.nhs.items[node.nh_base as usize + at];
        let count = node.count();
        self.nhs.remove(&mut node.nh_base, count, at);
        node.have[e / 64] &= !(1 << (e % 64));
        self.len -= 1;
        while self.is_empty(n) {
            if levels == 0 {
                if from == 0 {
                    break;
                }
                // Pruning reaches the indexed node: now the path to it is needed.
                (levels, _, _) = self.walk(key, (0, 0), from + 1, &mut path)?;
                from = 0;
            }
            levels -= 1;
            let (parent, s, pd) = path[levels];
            self.unlink(parent, s, n, pd + self.stride(parent), key);
            n = parent;
        }
        Some(old)
    }

    /// For [`Lpm::warm`](super::Lpm::warm): reads the indexed node of each prefix, then its
    /// first next hop, each level for all of them before the next; returns a sum of what it
    /// read, for the caller to keep.
    pub(crate) fn warm(&self, prefixes: &[Prefix<K>]) -> u64 {
        let mut base = [0u32; 64];
        let mut sum = 0;
        for chunk in prefixes.chunks(base.len()) {
            for (b, p) in base.iter_mut().zip(chunk) {
                *b = self.node_at_index(p.addr()).unwrap_or(0);
            }
            for b in &mut base[..chunk.len()] {
                *b = self.nodes[*b as usize].nh_base;
            }
            for &b in &base[..chunk.len()] {
                sum += u64::from(self.nhs.items.get(b as usize).copied().unwrap_or(0));
            }
        }
        sum
    }

    /// Where a walk to `p` may start: the indexed node above it, or the root.
    fn start(&self, p: Prefix<K>) -> (NodeId, u32) {
        match self.node_at_index(p.addr()) {
            Some(n) if p.len() > self.depth => (n, u32::from(self.depth)),
            _ => (0, 0),
        }
    }

    /// Walks from node `n` at depth `d` along `key` to the node holding the prefixes of `len`
    /// bits, recording `(node, slot taken, depth)` of each step in `path`. Returns the number
    /// of steps, that node and its depth, or `None` where a node is missing.
    fn walk(
        &self,
        key: K,
        (mut n, mut d): (NodeId, u32),
        len: u32,
        path: &mut [(NodeId, usize, u32); 24],
    ) -> Option<(usize, NodeId, u32)> {
        let mut levels = 0;
        loop {
            let w = self.stride(n);
            if len <= d + w {
                return Some((levels, n, d));
            }
            let s = slot_bits(key, d, w);
            path[levels] = (n, s, d);
            levels += 1;
            n = self.kid(n, s)?;
            d += w;
        }
    }

    /// The longest prefix strictly shorter than `p` that covers it: `(next hop, length)`, or
    /// `(NO_ROUTE, 0)`.
    pub(crate) fn covering(&self, p: Prefix<K>) -> (NextHop, u8) {
        let (key, len) = (p.addr(), u32::from(p.len()));
        let mut best = (if len > 0 { self.default } else { NO_ROUTE }, 0);
        let (mut n, mut d) = (0, 0);
        while d < len {
            let w = self.stride(n);
            for r in 1..=w.min(len - 1 - d) {
                let nh = self.nh(n, entry(r, slot_bits(key, d, r)));
                if nh != NO_ROUTE {
                    best = (nh, (d + r) as u8);
                }
            }
            match self.kid(n, slot_bits(key, d, w)) {
                Some(k) if d + w < len => (n, d) = (k, d + w),
                _ => break,
            }
        }
        best
    }

    /// Every slot of node `n`, `inherited` covering the node.
    pub(crate) fn slots(&self, n: NodeId, inherited: NextHop) -> Slots<'_> {
        let node = &self.nodes[n as usize];
        let w = self.stride(n);
        let nhs = self
            .nhs
            .items
            .get(node.nh_base as usize..)
            .unwrap_or_default();
        let have = u128::from(node.have[0]) | u128::from(node.have[1]) << 64;
        // Entries are numbered shortest prefix first, so painting each one's span of slots in
        // that order leaves every slot with its longest match. Level by level, a span has one
        // size, which each store writes at once: no loop whose length varies per prefix.
        let mut best = [inherited; 64];
        let mut at = 0;
        for r in 1..=w {
            let level = (have >> entry(r, 0)) as u64 & (u64::MAX >> (64 - (1 << r)));
            let nhs = nhs.get(at..).unwrap_or_default();
            at += level.count_ones() as usize;
            match w - r {
                0 => paint::<1>(&mut best, level, nhs),
                1 => paint::<2>(&mut best, level, nhs),
                2 => paint::<4>(&mut best, level, nhs),
                3 => paint::<8>(&mut best, level, nhs),
                4 => paint::<16>(&mut best, level, nhs),
                _ => paint::<32>(&mut best, level, nhs),
            }
        }
        Slots {
            best,
            kid_mask: node.kidmap,
            kids: self
                .kids
                .items
                .get(node.kid_base as usize..)
                .unwrap_or_default(),
        }
    }

    /// Slot `s` of node `n`, `inherited` covering the node: the node below it and the next hop
    /// covering the whole slot.
    #[inline]
    pub(crate) fn step(
        &self,
        n: NodeId,
        s: usize,
        inherited: NextHop,
    ) -> (Option<NodeId>, NextHop) {
        let w = self.stride(n);
        let mut best = inherited;
        for r in 1..=w {
            let nh = self.nh(n, entry(r, s >> (w - r)));
            if nh != NO_ROUTE {
                best = nh;
            }
        }
        (self.kid(n, s), best)
    }

    /// Calls `f(i, node, best)` for each of the `2^(depth - p.len())` prefixes `i` of `depth`
    /// bits (a level of the trie, at least `p.len()`) under `p`, in order: `node` is the rule
    /// node at that prefix, if any, and `best` the next hop of the longest prefix covering it.
    pub(crate) fn expand(
        &self,
        p: Prefix<K>,
        depth: u32,
        f: &mut impl FnMut(usize, Option<NodeId>, NextHop),
    ) {
        let (key, len) = (p.addr(), u32::from(p.len()));
        let (mut n, mut d, mut best) = (Some(0), 0, self.default);
        let mut i = 0;
        while let Some(node) = n {
            let w = self.stride(node);
            if d == depth || d + w > len {
                break;
            }
            (n, best) = self.step(node, slot_bits(key, d, w), best);
            d += w;
        }
        match n {
            Some(node) if d < depth => {
                // `p` ends inside `node`: its slots are a run.
                let (w, r) = (self.stride(node), len - d);
                let slots = self.slots(node, best);
                let start = slot_bits(key, d, r) << (w - r);
                for s in start..start + (1 << (w - r)) {
                    self.expand_node(slots.kid(s), d + w, depth, slots.best[s], &mut i, f);
                }
            }
            _ => self.expand_node(n, d.max(len), depth, best, &mut i, f),
        }
    }

    /// Every prefix of `depth` bits under node `n` (or an absent node) at depth `d`.
    fn expand_node(
        &self,
        n: Option<NodeId>,
        d: u32,
        depth: u32,
        best: NextHop,
        i: &mut usize,
        f: &mut impl FnMut(usize, Option<NodeId>, NextHop),
    ) {
        match n {
            _ if d == depth => {
                f(*i, n, best);
                *i += 1;
            }
            None => {
                for _ in 0..1usize << (depth - d) {
                    f(*i, None, best);
                    *i += 1;
                }
            }
            Some(n) => {
                let slots = self.slots(n, best);
                let w = self.stride(n);
                for s in 0..1 << w {
                    self.expand_node(slots.kid(s), d + w, depth, slots.best[s], i, f);
                }
            }
        }
    }

    /// The next hop of entry `e` of node `n`, or [`NO_ROUTE`].
    #[inline]
    fn nh(&self, n: NodeId, e: usize) -> NextHop {
        let node = &self.nodes[n as usize];
        if node.has(e) {
            self.nhs.items[node.nh_base as usize + node.rank(e)]
        } else {
            NO_ROUTE
        }
    }

    #[inline]
    fn kid(&self, n: NodeId, s: usize) -> Option<NodeId> {
        let node = &self.nodes[n as usize];
        (node.kidmap >> s & 1 != 0)
            .then(|| self.kids.items[node.kid_base as usize + rank(node.kidmap, s)])
    }

    fn is_empty(&self, n: NodeId) -> bool {
        let node = &self.nodes[n as usize];
        node.have == [0, 0] && node.kidmap == 0
    }

    /// The child of `n` in slot `s`, made if missing (at depth `d` along `key`).
    fn kid_or_new(&mut self, n: NodeId, s: usize, d: u32, key: K) -> Result<NodeId, Error> {
        if let Some(k) = self.kid(n, s) {
            return Ok(k);
        }
        let k = match self.free.pop() {
            Some(k) => {
                self.nodes[k as usize] = RuleNode::default();
                k
            }
            None => {
                let k = NodeId::try_from(self.nodes.len())
                    .map_err(|_| Error::TableFull("rule trie"))?;
                self.nodes.push(RuleNode::default());
                k
            }
        };
        let node = &mut self.nodes[n as usize];
        let count = node.kidmap.count_ones() as usize;
        self.kids
            .insert(&mut node.kid_base, count, rank(node.kidmap, s), k)?;
        node.kidmap |= 1 << s;
        if d == u32::from(self.depth) {
            self.index[key.top(d)] = k;
        }
        Ok(k)
    }

    /// Frees child `k` of `n` in slot `s` (at depth `d` along `key`).
    fn unlink(&mut self, n: NodeId, s: usize, k: NodeId, d: u32, key: K) {
        let node = &mut self.nodes[n as usize];
        let count = node.kidmap.count_ones() as usize;
        self.kids
            .remove(&mut node.kid_base, count, rank(node.kidmap, s));
        node.kidmap &= !(1 << s);
        self.free.push(k);
        if d == u32::from(self.depth) {
            self.index[key.top(d)] = 0;
        }
    }
}

// ===== impl Slots =====

impl Slots<'_> {
    /// The node below slot `s`, if any.
    #[inline]
    pub(crate) fn kid(&self, s: usize) -> Option<NodeId> {
        (self.kid_mask >> s & 1 != 0).then(|| {
            let k = self.kids.get(rank(self.kid_mask, s)).copied();
            k.unwrap_or_default()
        })
    }

    /// The slots that have a node below them and those nodes, in slot order.
    pub(crate) fn kids(&self) -> impl Iterator<Item = (usize, NodeId)> + '_ {
        bits(self.kid_mask).zip(self.kids.iter().copied())
    }
}

// ===== impl RuleNode =====

impl RuleNode {
    #[inline]
    fn has(&self, e: usize) -> bool {
        self.have[e / 64] >> (e % 64) & 1 != 0
    }

    /// Position of entry `e` among the node's next hops.
    #[inline]
    fn rank(&self, e: usize) -> usize {
        let before = if e >= 64 {
            self.have[0].count_ones() as usize
        } else {
            0
        };
        before + rank(self.have[e / 64], e % 64)
    }

    fn count(&self) -> usize {
        (self.have[0].count_ones() + self.have[1].count_ones()) as usize
    }
}

/// How many bits of `map` lie below bit `i` (< 64).
#[inline]
fn rank(map: u64, i: usize) -> usize {
    (map & ((1 << i) - 1)).count_ones() as usize
}

/// Sets the `N` slots of each entry in `level` (bit `b`: slots `b * N ..`) to its next hop, the
/// next of `nhs` in entry order.
#[inline]
fn paint<const N: usize>(best: &mut [NextHop; 64], level: u64, nhs: &[NextHop]) {
    for (b, &nh) in bits(level).zip(nhs) {
        if let Some(span) = best.get_mut(b * N..b * N + N) {
            span.copy_from_slice(&[nh; N]);
        }
    }
}

/// The set bits of `map`, lowest first.
pub(crate) fn bits(mut map: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let i = map.trailing_zeros() as usize;
        map &= map.wrapping_sub(1);
        (i < 64).then_some(i)
    })
}

/// The `r` bits (at most 6) of `key` that follow its first `d`.
#[inline]
fn slot_bits<K: Key>(key: K, d: u32, r: u32) -> usize {
    key.stride6(d) >> (STRIDE - r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix<u32> {
        s.parse().unwrap()
    }

    #[test]
    fn covering_and_pruning() {
        let mut r = Rules::<u32>::indexed(18);
        assert_eq!(r.first, 6);
        r.insert(p("0.0.0.0/0"), 1).unwrap();
        r.insert(p("10.0.0.0/8"), 2).unwrap();
        r.insert(p("10.1.2.0/24"), 3).unwrap();
        r.insert(p("10.1.2.128/25"), 4).unwrap();
        assert_eq!(r.covering(p("10.1.2.128/25")), (3, 24));
        assert_eq!(r.covering(p("10.1.2.0/24")), (2, 8));
        assert_eq!(r.covering(p("10.0.0.0/8")), (1, 0));
        assert_eq!(r.covering(p("0.0.0.0/0")), (NO_ROUTE, 0));
        assert!(r.node_at_index(0x0a01_0200).is_some());
        let nodes = r.nodes.len() - r.free.len();
        assert_eq!(r.remove(p("10.1.2.128/25")), Some(4));
        assert_eq!(r.remove(p("10.1.2.0/24")), Some(3));
        assert_eq!(r.remove(p("10.1.2.0/24")), None);
        // Only the nodes down to the /8 (depth 6) remain.
        assert!(r.nodes.len() - r.free.len() < nodes);
        assert_eq!(r.node_at_index(0x0a01_0200), None);
        assert_eq!(r.nodes.len() - r.free.len(), 2);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn expand_lists_the_slots_under_a_prefix() {
        let mut r = Rules::<u32>::indexed(16);
        assert_eq!(r.first, 4);
        r.insert(p("10.0.0.0/8"), 2).unwrap();
        r.insert(p("10.0.0.0/15"), 3).unwrap();
        r.insert(p("10.1.0.0/17"), 4).unwrap();
        let mut seen = Vec::new();
        r.expand(p("10.0.0.0/14"), 16, &mut |i, n, best| {
            seen.push((i, n.is_some(), best))
        });
        assert_eq!(
            seen,
            [(0, false, 3), (1, true, 3), (2, false, 2), (3, false, 2)]
        );
    }
}
