//! A Poptrie-class compressed multibit trie.
//!
//! The top `S` bits of an address index a direct table. An entry is either a leaf (a next hop)
//! or the root of a subtree of 64-way nodes, one per 6-bit stride. A node has two bitmaps: in
//! `vector`, the slots that go on to a child; in `leafvec`, the slots where a run of equal leaves
//! starts. Children and leaf runs are stored contiguously, so the position of slot `v` is a
//! popcount of the bitmap below `v`: a node costs 24 bytes and a leaf 2, whatever the fan-out.
//! With `S = 18`, every IPv4 prefix up to /24 resolves within one node.
//!
//! An update rebuilds, from the rule trie, only the deepest node whose slots or children the
//! changed prefix touches (or the direct entries it spans, for a prefix no longer than `S`).
//! Each node's children and each node's leaves are a block of an arena with free lists, so a
//! rebuilt node keeps its place in its parent and its old blocks are recycled.

use super::rules::{NodeId, Rules};
use super::{Lpm, NO_ROUTE, NextHop, check_nh, lookup_each};
use crate::{Error, Key, Prefix};

/// Keys per pass of [`Lpm::lookup_batch`]: a data-path burst.
const BATCH: usize = 32;

/// A direct entry with this bit is a leaf (next hop in the low 16 bits); otherwise it is the
/// index of a subtree's root node.
const LEAF: u32 = 1 << 31;

#[derive(Clone, Copy, Debug, Default)]
struct Node {
    vector: u64,
    leafvec: u64,
    /// First leaf of this node.
    base0: u32,
    /// First child of this node.
    base1: u32,
}
const _: () = assert!(size_of::<Node>() == 24);

/// Where a slot of a node leads.
enum Step {
    Leaf(usize),
    Child(usize),
}

impl Node {
    /// Slot `v`: the index of its child node, or of its leaf.
    #[inline]
    fn step(&self, v: usize) -> Step {
        let bit = 1u64 << v;
        let below = (bit << 1).wrapping_sub(1);
        if self.vector & bit != 0 {
            Step::Child((self.base1 as usize + (self.vector & below).count_ones() as usize) - 1)
        } else {
            // A leaf slot's run starts at or below it, so the count is at least one in a node
            // built here; `leaf` bounds-checks what a default node would give.
            Step::Leaf(
                (self.base0 as usize + (self.leafvec & below).count_ones() as usize)
                    .wrapping_sub(1),
            )
        }
    }
}

/// Poptrie with an `S`-bit direct table.
#[derive(Clone, Debug)]
pub struct Poptrie<K, const S: u32> {
    t: Tables,
    rules: Rules<K>,
}

/// Poptrie for IPv4: 2^18 direct entries (1 MiB).
pub type Poptrie4 = Poptrie<u32, 18>;
/// Poptrie for IPv6: 2^16 direct entries (256 KiB); IPv6 tables hold few prefixes under /16.
pub type Poptrie6 = Poptrie<u128, 16>;

/// What lookups read, plus where each subtree lives.
#[derive(Clone, Debug)]
struct Tables {
    direct: Box<[u32]>,
    /// For each direct entry, the next hop of the longest prefix of at most `S` bits covering
    /// it: what an update under the entry inherits, without a walk from the trie's root.
    cover: Box<[NextHop]>,
    nodes: Arena<Node>,
    leaves: Arena<NextHop>,
}

/// A growable array handing out blocks, with free lists by power-of-two size class. A block
/// keeps its class for life, so freed blocks always fit the requests of their class again.
#[derive(Clone, Debug)]
struct Arena<T> {
    items: Vec<T>,
    /// Class of the block starting at each index (meaningless elsewhere).
    class: Vec<u8>,
    free: Vec<Vec<u32>>,
    /// New blocks get exactly the size asked (a full build) rather than a power of two.
    tight: bool,
}

// ===== impl Poptrie =====

impl<K: Key, const S: u32> Default for Poptrie<K, S> {
    fn default() -> Self {
        Poptrie {
            t: Tables {
                direct: vec![LEAF; 1 << S].into_boxed_slice(),
                cover: vec![NO_ROUTE; 1 << S].into_boxed_slice(),
                nodes: Arena::default(),
                leaves: Arena::default(),
            },
            rules: Rules::indexed(S as u8),
        }
    }
}

impl<K: Key, const S: u32> Poptrie<K, S> {
    /// Rebuilds what prefix `p` spans after its rule changed.
    fn refresh(&mut self, p: Prefix<K>) -> Result<(), Error> {
        let (t, rules) = (&mut self.t, &self.rules);
        let len = u32::from(p.len());
        let first = p.addr().top(S);
        if len > S {
            let (n, best) = (rules.node_at_index(p.addr()), t.cover[first]);
            return t.refresh_below(rules, p, (first, S), n, best);
        }
        let (n, best) = rules.descend(p.addr(), p.len());
        let mut result = Ok(());
        rules.expand(n, S - len, best, &mut |rel, n, best| {
            if result.is_ok() {
                result = t.set_slot(rules, first + rel, n, best);
            }
        });
        result
    }
}

impl<K: Key, const S: u32> Lpm<K> for Poptrie<K, S> {
    fn insert(&mut self, p: Prefix<K>, nh: NextHop) -> Result<Option<NextHop>, Error> {
        check_nh(nh)?;
        let old = self.rules.insert(p, nh)?;
        if old != Some(nh) {
            self.refresh(p)?;
        }
        Ok(old)
    }

    fn remove(&mut self, p: Prefix<K>) -> Result<Option<NextHop>, Error> {
        let Some(old) = self.rules.remove(p) else {
            return Ok(None);
        };
        // Even a removal can grow a subtree: a child that goes away may split a run of leaves.
        self.refresh(p)?;
        Ok(Some(old))
    }

    #[inline]
    fn lookup(&self, key: K) -> NextHop {
        let d = self.t.direct.get(key.top(S)).copied().unwrap_or(LEAF);
        if d & LEAF != 0 {
            return d as NextHop;
        }
        self.t.descend(key, d as usize, S)
    }

    /// In passes over up to [`BATCH`] keys, so that the loads of one level do not wait for each
    /// other and their cache misses overlap: all direct entries, then the first node of every
    /// key (node 0 stands in for a direct leaf, a select rather than a branch), then the leaf
    /// those nodes point to. Keys that go deeper than one node (prefixes longer than `S + 6`
    /// bits, a few percent of an IPv4 table) finish one at a time. Measured against the plain
    /// per-key loop: faster for keys inside the table's prefixes, which is where traffic goes,
    /// and slower for uniformly random IPv4 keys, most of which end in a direct leaf
    /// (docs/benchmarks.md). IPv6 keys take the plain loop: with a 16-bit direct table they
    /// either end in a direct entry (random keys, where the passes cost 0.71-0.76x) or go
    /// several nodes deep (real prefixes, where the passes gained nothing).
    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        if K::BITS > 32 {
            return lookup_each(self, keys, out);
        }
        let nodes = &self.t.nodes.items;
        let mut d = [LEAF; BATCH];
        let mut first = [Node::default(); BATCH];
        for (keys, out) in keys.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            for (d, k) in d.iter_mut().zip(keys) {
                *d = self.t.direct.get(k.top(S)).copied().unwrap_or(LEAF);
            }
            for (n, &d) in first.iter_mut().zip(&d) {
                let at = if d & LEAF == 0 { d as usize } else { 0 };
                *n = nodes.get(at).copied().unwrap_or_default();
            }
            for (((o, k), &d), n) in out.iter_mut().zip(keys).zip(&d).zip(&first) {
                *o = if d & LEAF != 0 {
                    d as NextHop
                } else {
                    match n.step(k.stride6(S)) {
                        Step::Leaf(at) => self.t.leaf(at),
                        Step::Child(c) => self.t.descend(*k, c, S + 6),
                    }
                };
            }
        }
    }

    fn len(&self) -> usize {
        self.rules.len()
    }

    /// Builds the rules first, then every subtree once.
    fn from_routes(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error> {
        let mut p = Self::default();
        for &(prefix, nh) in routes {
            check_nh(nh)?;
            p.rules.insert(prefix, nh)?;
        }
        let (t, rules) = (&mut p.t, &p.rules);
        (t.nodes.tight, t.leaves.tight) = (true, true);
        let mut result = Ok(());
        rules.expand(Some(0), S, NO_ROUTE, &mut |slot, n, best| {
            if result.is_ok() {
                result = t.set_slot(rules, slot, n, best);
            }
        });
        result?;
        (t.nodes.tight, t.leaves.tight) = (false, false);
        p.t.nodes.items.shrink_to_fit();
        p.t.leaves.items.shrink_to_fit();
        Ok(p)
    }

    fn lookup_bytes(&self) -> usize {
        self.t.direct.len() * size_of::<u32>()
            + self.t.nodes.items.capacity() * size_of::<Node>()
            + self.t.leaves.items.capacity() * size_of::<NextHop>()
    }
}

// ===== impl Tables =====

impl Tables {
    /// The rest of a lookup from node `i`, `off` bits down.
    #[inline]
    fn descend<K: Key>(&self, key: K, mut i: usize, mut off: u32) -> NextHop {
        loop {
            let Some(n) = self.nodes.items.get(i) else {
                return NO_ROUTE;
            };
            match n.step(key.stride6(off)) {
                Step::Leaf(at) => return self.leaf(at),
                Step::Child(c) => (i, off) = (c, off + 6),
            }
        }
    }

    #[inline]
    fn leaf(&self, at: usize) -> NextHop {
        self.leaves.items.get(at).copied().unwrap_or(NO_ROUTE)
    }

    /// Sets direct entry `slot` from trie node `n` (the node `S` bits down, if any) and `best`,
    /// the next hop covering the whole slot.
    fn set_slot<K: Key>(
        &mut self,
        rules: &Rules<K>,
        slot: usize,
        n: Option<NodeId>,
        best: NextHop,
    ) -> Result<(), Error> {
        self.cover[slot] = best;
        let old = self.direct[slot];
        if old & LEAF == 0 {
            let root = self.nodes.items[old as usize];
            self.free_below(root);
            self.nodes.release(old, 1);
        }
        self.direct[slot] = match n.filter(|&n| rules.has_children(n)) {
            Some(n) => {
                let root = self.nodes.reserve(1)?;
                let node = self.build(rules, n, best)?;
                self.nodes.items[root as usize] = node;
                root
            }
            None => LEAF | u32::from(best),
        };
        Ok(())
    }

    /// After the rule of `p` (longer than `S`) changed: walks down the nodes of direct entry
    /// `slot` of an `S`-bit table (trie node `n`, `best` covering it) to the deepest node that
    /// must change, and rebuilds that one in place.
    fn refresh_below<K: Key>(
        &mut self,
        rules: &Rules<K>,
        p: Prefix<K>,
        (slot, s): (usize, u32),
        n: Option<NodeId>,
        best: NextHop,
    ) -> Result<(), Error> {
        let Some(mut t) = n.filter(|&n| rules.has_children(n) && self.direct[slot] & LEAF == 0)
        else {
            // The entry turns from leaf to subtree or back.
            return self.set_slot(rules, slot, n, best);
        };
        let (mut at, mut off, mut inherited) = (self.direct[slot] as usize, s, best);
        while u32::from(p.len()) > off + 6 {
            let step = self.nodes.items[at].step(p.addr().stride6(off));
            let (below, below_best) =
                rules.descend_from(t, p.addr(), off as u8, off as u8 + 6, inherited);
            match (below.filter(|&b| rules.has_children(b)), step) {
                (Some(b), Step::Child(c)) => {
                    (at, t, off, inherited) = (c, b, off + 6, below_best);
                }
                // The node gains or loses a child: rebuild it.
                _ => break,
            }
        }
        if u32::from(p.len()) <= off + 6 && self.patch(rules, p, at, (t, off), inherited)? {
            return Ok(());
        }
        let old = self.nodes.items[at];
        self.free_below(old);
        self.nodes.items[at] = self.build(rules, t, inherited)?;
        Ok(())
    }

    /// Rewrites only the slots prefix `p` spans in node `at` (trie node `t` at depth `off`,
    /// `inherited` covering it), when none of them turns from leaf to child or back: their leaf
    /// values, the node's leaf runs, and the children below them, which inherit from `p`.
    /// Returns false, having changed nothing, when the node's shape changes.
    fn patch<K: Key>(
        &mut self,
        rules: &Rules<K>,
        p: Prefix<K>,
        at: usize,
        (t, off): (NodeId, u32),
        inherited: NextHop,
    ) -> Result<bool, Error> {
        let node = self.nodes.items[at];
        let width = off + 6 - u32::from(p.len());
        // Host bits are zero: the stride holds the first slot of the span.
        let first = p.addr().stride6(off);
        let (pn, best) = rules.descend_from(t, p.addr(), off as u8, p.len(), inherited);
        let mut slots = [NO_ROUTE; 64];
        let (mut run, mut value) = (node.base0 as usize, NO_ROUTE);
        for (s, slot) in slots.iter_mut().enumerate() {
            if node.leafvec >> s & 1 != 0 {
                value = self.leaves.items[run];
                run += 1;
            }
            *slot = value;
        }
        let (mut kids, mut nkids, mut reshaped) = ([(0, 0, NO_ROUTE); 64], 0, false);
        rules.expand(pn, width, best, &mut |rel, n, best| {
            let s = first + rel;
            match n.filter(|&n| rules.has_children(n)) {
                Some(c) if node.vector >> s & 1 != 0 => {
                    kids[nkids] = (s, c, best);
                    nkids += 1;
                }
                None if node.vector >> s & 1 == 0 => slots[s] = best,
                _ => reshaped = true,
            }
        });
        if reshaped {
            return Ok(false);
        }
        for &(s, c, best) in &kids[..nkids] {
            // Only child slots were collected.
            let Step::Child(i) = node.step(s) else {
                continue;
            };
            let old = self.nodes.items[i];
            self.free_below(old);
            self.nodes.items[i] = self.build(rules, c, best)?;
        }
        let (mut leaves, mut nleaves, mut leafvec) = ([NO_ROUTE; 64], 0, 0u64);
        for (s, &v) in slots.iter().enumerate() {
            if node.vector >> s & 1 == 0 && (nleaves == 0 || leaves[nleaves - 1] != v) {
                leafvec |= 1 << s;
                leaves[nleaves] = v;
                nleaves += 1;
            }
        }
        let base0 = if leafvec.count_ones() == node.leafvec.count_ones() {
            let at = node.base0 as usize;
            self.leaves.items[at..at + nleaves].copy_from_slice(&leaves[..nleaves]);
            node.base0
        } else {
            self.leaves.release(node.base0, node.leafvec.count_ones());
            self.leaves.place(&leaves[..nleaves])?
        };
        self.nodes.items[at] = Node {
            leafvec,
            base0,
            ..node
        };
        Ok(true)
    }

    /// Builds the node of trie node `t` (at a node boundary), `inherited` covering it: its
    /// leaves, then its children, each group in a block of its own.
    fn build<K: Key>(
        &mut self,
        rules: &Rules<K>,
        t: NodeId,
        inherited: NextHop,
    ) -> Result<Node, Error> {
        let mut node = Node::default();
        let mut kids = [(0, NO_ROUTE); 64];
        let mut nkids = 0;
        let mut leaves = [NO_ROUTE; 64];
        let mut nleaves = 0;
        rules.expand(Some(t), 6, inherited, &mut |slot, n, best| match n {
            Some(n) if rules.has_children(n) => {
                node.vector |= 1 << slot;
                kids[nkids] = (n, best);
                nkids += 1;
            }
            _ if nleaves == 0 || leaves[nleaves - 1] != best => {
                node.leafvec |= 1 << slot;
                leaves[nleaves] = best;
                nleaves += 1;
            }
            _ => {}
        });
        node.base0 = self.leaves.place(&leaves[..nleaves])?;
        node.base1 = self.nodes.reserve(nkids)?;
        for (k, &(n, best)) in kids[..nkids].iter().enumerate() {
            let child = self.build(rules, n, best)?;
            self.nodes.items[node.base1 as usize + k] = child;
        }
        Ok(node)
    }

    /// Recycles the blocks below `node`: its leaves and, recursively, its children.
    fn free_below(&mut self, node: Node) {
        let kids = node.vector.count_ones();
        for k in 0..kids {
            self.free_below(self.nodes.items[(node.base1 + k) as usize]);
        }
        self.nodes.release(node.base1, kids);
        self.leaves.release(node.base0, node.leafvec.count_ones());
    }
}

// ===== impl Arena =====

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena {
            items: Vec::new(),
            class: Vec::new(),
            free: (0..32).map(|_| Vec::new()).collect(),
            tight: false,
        }
    }
}

impl<T: Copy + Default> Arena<T> {
    /// The start of a block for `len` items: from the free list of its class (the power of two
    /// at or above `len`), else new.
    fn reserve(&mut self, len: usize) -> Result<u32, Error> {
        if len == 0 {
            return Ok(0);
        }
        let class = len.next_power_of_two().trailing_zeros() as usize;
        if let Some(start) = self.free.get_mut(class).and_then(Vec::pop) {
            return Ok(start);
        }
        // A tight block serves the class below its size when recycled.
        let (cap, class) = if self.tight {
            (len, len.ilog2() as u8)
        } else {
            (1 << class, class as u8)
        };
        let start = u32::try_from(self.items.len())
            .ok()
            .filter(|s| s.checked_add(cap as u32).is_some_and(|end| end < LEAF))
            .ok_or(Error::TableFull("poptrie arena"))?;
        self.items.resize(self.items.len() + cap, T::default());
        self.class.resize(self.items.len(), 0);
        self.class[start as usize] = class;
        Ok(start)
    }

    /// Reserves a block and copies `data` into it.
    fn place(&mut self, data: &[T]) -> Result<u32, Error> {
        let start = self.reserve(data.len())?;
        let at = start as usize;
        self.items[at..at + data.len()].copy_from_slice(data);
        Ok(start)
    }

    /// Returns the block at `start`, which holds `len` items, to the free list of its class.
    fn release(&mut self, start: u32, len: u32) {
        if len > 0 {
            let class = self.class[start as usize];
            self.free[usize::from(class)].push(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_recycles_blocks() {
        let mut t = Poptrie4::default();
        let base: Vec<Prefix<u32>> = (0..64)
            .map(|i| Prefix::new(0x0a00_0000 | i << 8, 24).unwrap())
            .collect();
        for &p in &base {
            t.insert(p, 1).unwrap();
        }
        let deep = Prefix::new(0x0a00_0110, 28).unwrap();
        let mut sizes = Vec::new();
        for round in 0..1000u16 {
            t.insert(deep, round % 7 + 2).unwrap();
            t.insert(base[usize::from(round % 64)], round % 5 + 1)
                .unwrap();
            assert_eq!(t.lookup(0x0a00_0111), round % 7 + 2);
            t.remove(deep).unwrap();
            assert_eq!(t.lookup(0x0a00_0111), t.lookup(0x0a00_0101));
            sizes.push(t.lookup_bytes());
        }
        // Sizes settle once every block size in use has been freed once.
        assert_eq!(sizes[200], sizes[999], "the arenas grew under churn");
    }
}
