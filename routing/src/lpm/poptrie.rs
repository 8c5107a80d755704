//! A Poptrie-class compressed multibit trie.
//!
//! The top `S` bits of an address index a direct table. An entry is either a leaf (a next hop)
//! or the root of a subtree of 64-way nodes, one per 6-bit stride. A node has two bitmaps: in
//! `vector`, the slots that go on to a child; in `leafvec`, the slots where a run of equal leaves
//! starts. Children and leaf runs are stored contiguously, so the position of slot `v` is a
//! popcount of the bitmap below `v`: a node costs 24 bytes and a leaf 2, whatever the fan-out.
//! With `S = 18`, every IPv4 prefix up to /24 resolves within one node.
//!
//! Updates rebuild only the subtrees (one per direct entry) that the changed prefix spans, from
//! the rule trie, into blocks of two arenas; a block is reused in place when the new subtree fits.

use std::collections::HashMap;

use super::rules::{NodeId, Rules};
use super::{Lpm, NO_ROUTE, NextHop, check_nh};
use crate::{Error, Key, Prefix};

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
    nodes: Arena<Node>,
    leaves: Arena<NextHop>,
    blocks: HashMap<usize, Block>,
}

/// Where the subtree of one direct entry lives.
#[derive(Clone, Copy, Debug)]
struct Block {
    nodes: Span,
    leaves: Span,
}

#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    cap: u32,
}

/// A growable array handing out blocks, with free lists by power-of-two size class.
#[derive(Clone, Debug)]
struct Arena<T> {
    items: Vec<T>,
    free: Vec<Vec<Span>>,
}

/// A subtree built on its own, indices relative to its first node and leaf.
#[derive(Debug, Default)]
struct Subtree {
    nodes: Vec<Node>,
    leaves: Vec<NextHop>,
}

// ===== impl Poptrie =====

impl<K: Key, const S: u32> Default for Poptrie<K, S> {
    fn default() -> Self {
        Poptrie {
            t: Tables {
                direct: vec![LEAF; 1 << S].into_boxed_slice(),
                nodes: Arena::default(),
                leaves: Arena::default(),
                blocks: HashMap::new(),
            },
            rules: Rules::new(),
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
            let (n, best) = rules.descend(p.addr(), S as u8);
            return t.set_slot(rules, first, n, best, false);
        }
        let (n, best) = rules.descend(p.addr(), p.len());
        let mut result = Ok(());
        rules.expand(n, S - len, best, &mut |rel, n, best| {
            if result.is_ok() {
                result = t.set_slot(rules, first + rel, n, best, false);
            }
        });
        result
    }

    /// Looks up one key; the body shared by [`Lpm::lookup`] and the batch.
    #[inline(always)]
    fn find(&self, key: K) -> NextHop {
        let d = self.t.direct.get(key.top(S)).copied().unwrap_or(LEAF);
        if d & LEAF != 0 {
            return d as NextHop;
        }
        let (nodes, leaves) = (&self.t.nodes.items, &self.t.leaves.items);
        let mut i = d as usize;
        let mut off = S;
        loop {
            let Some(n) = nodes.get(i) else {
                return NO_ROUTE;
            };
            let bit = 1u64 << key.stride6(off);
            let below = (bit << 1).wrapping_sub(1);
            if n.vector & bit == 0 {
                let at =
                    (n.base0 as usize + (n.leafvec & below).count_ones() as usize).wrapping_sub(1);
                return leaves.get(at).copied().unwrap_or(NO_ROUTE);
            }
            i = (n.base1 as usize + (n.vector & below).count_ones() as usize).wrapping_sub(1);
            off += 6;
        }
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
        self.find(key)
    }

    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        for (k, o) in keys.iter().zip(out.iter_mut()) {
            *o = self.find(*k);
        }
    }

    fn len(&self) -> usize {
        self.rules.len()
    }

    /// Builds the rules first, then every subtree once, packed tightly.
    fn from_routes(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error> {
        let mut p = Self::default();
        for &(prefix, nh) in routes {
            check_nh(nh)?;
            p.rules.insert(prefix, nh)?;
        }
        let (t, rules) = (&mut p.t, &p.rules);
        let mut result = Ok(());
        rules.expand(Some(0), S, NO_ROUTE, &mut |slot, n, best| {
            if result.is_ok() {
                result = t.set_slot(rules, slot, n, best, true);
            }
        });
        result?;
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
    /// Sets direct entry `slot` from trie node `n` (the node `S` bits down, if any) and `best`,
    /// the next hop covering the whole slot.
    fn set_slot<K: Key>(
        &mut self,
        rules: &Rules<K>,
        slot: usize,
        n: Option<NodeId>,
        best: NextHop,
        tight: bool,
    ) -> Result<(), Error> {
        let Some(n) = n.filter(|&n| rules.has_children(n)) else {
            if let Some(b) = self.blocks.remove(&slot) {
                self.nodes.release(b.nodes);
                self.leaves.release(b.leaves);
            }
            self.direct[slot] = LEAF | u32::from(best);
            return Ok(());
        };
        let mut sub = Subtree::default();
        sub.nodes.push(Node::default());
        sub.fill(rules, 0, n, best);
        let old = self.blocks.get(&slot).copied();
        let leaves = self
            .leaves
            .place(old.map(|b| b.leaves), &sub.leaves, tight)?;
        for node in &mut sub.nodes {
            node.base0 += leaves.start;
        }
        let nodes = self
            .nodes
            .reserve(old.map(|b| b.nodes), sub.nodes.len(), tight)?;
        for (dst, node) in self.nodes.items[nodes.start as usize..]
            .iter_mut()
            .zip(&sub.nodes)
        {
            *dst = Node {
                base1: node.base1 + nodes.start,
                ..*node
            };
        }
        self.blocks.insert(slot, Block { nodes, leaves });
        self.direct[slot] = nodes.start;
        Ok(())
    }
}

// ===== impl Subtree =====

impl Subtree {
    /// Fills node `at` from trie node `t` (at the node's depth), `inherited` covering it, then
    /// its children, which it places contiguously after every node built so far.
    fn fill<K: Key>(&mut self, rules: &Rules<K>, at: usize, t: NodeId, inherited: NextHop) {
        let mut node = Node {
            base0: self.leaves.len() as u32,
            ..Node::default()
        };
        let mut kids = [(0, NO_ROUTE); 64];
        let mut nkids = 0;
        let mut last = None;
        rules.expand(Some(t), 6, inherited, &mut |slot, n, best| match n {
            Some(n) if rules.has_children(n) => {
                node.vector |= 1 << slot;
                kids[nkids] = (n, best);
                nkids += 1;
            }
            _ if last != Some(best) => {
                node.leafvec |= 1 << slot;
                self.leaves.push(best);
                last = Some(best);
            }
            _ => {}
        });
        node.base1 = self.nodes.len() as u32;
        self.nodes.resize(self.nodes.len() + nkids, Node::default());
        self.nodes[at] = node;
        for (k, &(n, best)) in kids[..nkids].iter().enumerate() {
            self.fill(rules, node.base1 as usize + k, n, best);
        }
    }
}

// ===== impl Arena =====

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena {
            items: Vec::new(),
            free: (0..32).map(|_| Vec::new()).collect(),
        }
    }
}

impl<T: Copy + Default> Arena<T> {
    /// A block of at least `len` items: `old` if it is big enough, else a free or new block (of
    /// exactly `len` when `tight`, else rounded up to a power of two to absorb later growth).
    fn reserve(&mut self, old: Option<Span>, len: usize, tight: bool) -> Result<Span, Error> {
        if let Some(old) = old {
            if old.cap as usize >= len {
                return Ok(old);
            }
            self.release(old);
        }
        if len == 0 {
            return Ok(Span::default());
        }
        let class = len.next_power_of_two().trailing_zeros() as usize;
        if let Some(span) = self.free.get_mut(class).and_then(Vec::pop) {
            return Ok(span);
        }
        let cap = if tight { len } else { 1 << class };
        let start = u32::try_from(self.items.len())
            .ok()
            .filter(|s| s.checked_add(cap as u32).is_some_and(|end| end < LEAF))
            .ok_or(Error::TableFull("poptrie arena"))?;
        self.items.resize(self.items.len() + cap, T::default());
        Ok(Span {
            start,
            cap: cap as u32,
        })
    }

    /// Reserves a block and copies `data` into it.
    fn place(&mut self, old: Option<Span>, data: &[T], tight: bool) -> Result<Span, Error> {
        let span = self.reserve(old, data.len(), tight)?;
        let at = span.start as usize;
        self.items[at..at + data.len()].copy_from_slice(data);
        Ok(span)
    }

    /// Returns a block to the free list of the largest class it can serve.
    fn release(&mut self, span: Span) {
        if span.cap > 0 {
            self.free[span.cap.ilog2() as usize].push(span);
        }
    }
}
