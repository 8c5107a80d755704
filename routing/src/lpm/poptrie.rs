//! A Poptrie-class compressed multibit trie.
//!
//! The top `S` bits of an address index a direct table. An entry is either a leaf (a next hop)
//! or the root of a subtree of 64-way nodes, one per 6-bit stride. A node has two bitmaps: in
//! `vector`, the slots that go on to a child; in `leafvec`, the slots where a run of equal leaves
//! starts. Children and leaf runs are stored contiguously, so the position of slot `v` is a
//! popcount of the bitmap below `v`: a node costs 24 bytes and a leaf 2, whatever the fan-out.
//! With `S = 18`, every IPv4 prefix up to /24 resolves within one node.
//!
//! Two shortcuts keep leaf loads off the common path of a real table, where many subtrees hold
//! more-specifics of one next hop: a subtree that is a single run of leaves is a direct leaf, and
//! a node without children and with at most [`INLINE`] leaves keeps them in its own `base0` and
//! `base1`, which it does not otherwise need.
//!
//! Lookups do not read a subtree's root from the node arena but from a root block the direct
//! entry points to: `vector` and the first child if the root has children, then `leafvec` and
//! the leaves, packed in one byte array. A key that ends in a root's leaves (most keys inside the
//! prefixes of a real IPv4 table: /24s under the 18-bit direct table) then costs two dependent
//! cache misses, the direct entry and the block, whose leaf sits in the same or the next line,
//! where a root node and a leaf block elsewhere cost three (docs/benchmarks.md). Updates keep
//! working on the root nodes and rewrite the block of a root they change. A root's leaves are in
//! its block alone: the update that changes them has them in hand, and a copy in the leaf arena
//! cost an update one more cache miss.
//!
//! An update rebuilds, from the rule trie, only the deepest node whose slots or children the
//! changed prefix touches (or the direct entries it spans, for a prefix no longer than `S`).
//! Each node's children and each node's leaves (a root's are in its root block) are a block of
//! an arena with free lists, so a rebuilt node keeps its place in its parent and its old blocks
//! are recycled.

use super::arena::Arena;
use super::rules::{NodeId, Rules, Slots, bits};
use super::{Lpm, NO_ROUTE, NextHop, check_nh, lookup_each};
use crate::{Error, Key, Prefix};

/// Keys per pass of [`Lpm::lookup_batch`]: a data-path burst.
const BATCH: usize = 32;

/// An entry of `direct` or `roots` with this bit is a leaf (next hop in the low 16 bits);
/// otherwise it is where the subtree's root is: its block's window in `direct` ([`RootBlock`]),
/// its node in `roots`.
const LEAF: u32 = 1 << 31;

/// A direct entry without [`LEAF`] and with this bit points to the block of a root with
/// children; the other bits are the offset of the block's window ([`RootBlock`]).
const KIDS: u32 = 1 << 30;

/// The most leaves a node without children keeps inline (four 16-bit next hops in 8 bytes).
const INLINE: u32 = 4;

/// `base0` of a root node whose leaves are not inline: they are in its root block alone.
const NO_LEAVES: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, Default)]
struct Node {
    vector: u64,
    leafvec: u64,
    /// First leaf of this node in the leaf arena; its leaves themselves when they are inline;
    /// [`NO_LEAVES`] for a root whose leaves only its root block holds.
    base0: u32,
    /// First child of this node.
    base1: u32,
}
const _: () = assert!(size_of::<Node>() == 24);

/// Where a slot of a node leads.
enum Step {
    /// The slot's run of leaves, counted from the node's first.
    Leaf(usize),
    Child(usize),
}

impl Node {
    /// A node of `vector` and `leafvec` whose leaves are `leaves`, stored inline if they fit or
    /// in the block at `base0` (which `place` gives on demand); `base1` is its first child.
    fn new(
        (vector, leafvec): (u64, u64),
        leaves: &[NextHop],
        base1: u32,
        place: impl FnOnce(&[NextHop]) -> Result<u32, Error>,
    ) -> Result<Node, Error> {
        let mut node = Node {
            vector,
            leafvec,
            base0: 0,
            base1,
        };
        if node.inline() {
            let packed = leaves
                .iter()
                .rev()
                .fold(0u64, |p, &nh| p << 16 | u64::from(nh));
            (node.base0, node.base1) = (packed as u32, (packed >> 32) as u32);
        } else {
            node.base0 = place(leaves)?;
        }
        Ok(node)
    }

    /// Whether the leaves are in `base0` and `base1` rather than in a block.
    #[inline]
    fn inline(&self) -> bool {
        self.vector == 0 && self.leafvec.count_ones() <= INLINE
    }

    /// The block of leaves, if the node has one: start and length.
    fn leaf_block(&self) -> Option<(u32, u32)> {
        (!self.inline() && self.base0 != NO_LEAVES)
            .then_some((self.base0, self.leafvec.count_ones()))
    }

    /// Slot `v`: the index of its child node, or its run of leaves.
    #[inline]
    fn step(&self, v: usize) -> Step {
        let bit = 1u64 << v;
        let below = (bit << 1).wrapping_sub(1);
        if self.vector & bit != 0 {
            Step::Child((self.base1 as usize + (self.vector & below).count_ones() as usize) - 1)
        } else {
            // A leaf slot's run starts at or below it, so the count is at least one in a node
            // built here; `leaf` bounds-checks what a default node would give.
            Step::Leaf(((self.leafvec & below).count_ones() as usize).wrapping_sub(1))
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
/// Poptrie for IPv6: 2^18 direct entries (1 MiB). Nodes then start at 18, 24, 30, 36 and 42
/// bits, so a /48 (nearly half of a full table) ends in the fifth node, where a 16-bit table
/// needed six; a 20-bit one gained no more and took 6.3 MB (docs/benchmarks.md).
pub type Poptrie6 = Poptrie<u128, 18>;

/// What lookups read, plus where each subtree lives.
#[derive(Clone, Debug)]
struct Tables {
    /// What lookups read first: per slot, a leaf, or where the window of the root's block starts
    /// in `blocks`, with [`KIDS`] for a root with children ([`RootBlock::entry`]).
    direct: Box<[u32]>,
    /// Per slot, what updates work on ([`Root`]). Only the copy being changed keeps it current
    /// ([`Lpm::trade_rules`]); lookups never read it.
    roots: Box<[Root]>,
    /// The roots' blocks (see the module doc; [`Tables::emit`] writes them), after 12 bytes
    /// that the first block's window may start in and followed by [`RootBlock::MAX`] bytes of
    /// slack ([`Windows::at`]).
    blocks: Arena<u8>,
    nodes: Arena<Node>,
    leaves: Arena<NextHop>,
    log: Log,
}

/// What updates wrote to the arrays lookups read, once [`Lpm::start_log`] turned it on: what
/// the FIB's other copy copies to catch up.
#[derive(Clone, Debug, Default)]
struct Log {
    on: bool,
    direct: Vec<u32>,
    /// Blocks of nodes, of leaves and of root blocks' bytes: start and length.
    nodes: Vec<(u32, u32)>,
    leaves: Vec<(u32, u32)>,
    blocks: Vec<(u32, u32)>,
}

/// What updates keep of a slot, side by side so that an update misses the cache once for both.
#[derive(Clone, Copy, Debug)]
struct Root {
    /// A leaf (as in `direct`), or the index of the root node.
    at: u32,
    /// The next hop of the longest prefix of at most `S` bits covering the slot: what an
    /// update under it inherits, without a walk from the trie's root.
    cover: NextHop,
}

/// What an update of a slot reads before the rules change.
#[derive(Clone, Copy)]
struct Entry {
    /// What `roots` holds.
    root_at: u32,
    /// What `direct` holds, and the length of its block ([`Tables::block_at`]).
    block: (u32, u32),
    cover: NextHop,
    root: Node,
}

/// The leaves of a node: one per run of equal next hops over the slots without a child.
struct LeafRuns {
    leaves: [NextHop; 64],
    len: usize,
}

/// The root blocks as lookups read them: a window of [`RootBlock::MAX`] bytes at any offset.
#[derive(Clone, Copy)]
struct Windows<'a> {
    items: &'a [u8],
    /// The last offset with a whole window behind it.
    limit: usize,
}

/// What [`Windows::at`] gives for an arena too short for one window.
static ZERO_WINDOW: [u8; RootBlock::MAX] = [0; RootBlock::MAX];

// ===== impl Poptrie =====

impl<K: Key, const S: u32> Default for Poptrie<K, S> {
    fn default() -> Self {
        let mut blocks =
            Arena::new("poptrie root blocks").smallest(RootBlock::len_of(false, 1) as usize);
        // Never released: the window of a block without children starts before the block.
        blocks.items.resize(RootBlock::KIDS_LEN, 0);
        let blocks = blocks.slack(RootBlock::MAX);
        Poptrie {
            t: Tables {
                direct: vec![LEAF; 1 << S].into_boxed_slice(),
                roots: vec![
                    Root {
                        at: LEAF,
                        cover: NO_ROUTE
                    };
                    1 << S
                ]
                .into_boxed_slice(),
                blocks,
                nodes: Arena::new("poptrie nodes"),
                leaves: Arena::new("poptrie leaves"),
                log: Log::default(),
            },
            rules: Rules::indexed(S as u8),
        }
    }
}

impl<K: Key, const S: u32> Poptrie<K, S> {
    /// Rebuilds what prefix `p` spans after its rule changed; `entry` is what
    /// [`Tables::entry_of`] said before.
    fn refresh(&mut self, p: Prefix<K>, entry: Entry) -> Result<(), Error> {
        let (t, rules) = (&mut self.t, &self.rules);
        if u32::from(p.len()) > S {
            let (first, n) = (p.addr().top(S), rules.node_at_index(p.addr()));
            return t.refresh_below::<K, S>(rules, p, (first, entry), n);
        }
        t.set_span::<K, S>(rules, p)
    }
}

impl<K: Key, const S: u32> Lpm<K> for Poptrie<K, S> {
    fn insert(&mut self, p: Prefix<K>, nh: NextHop) -> Result<Option<NextHop>, Error> {
        check_nh(nh)?;
        let entry = self.t.entry_of::<K, S>(p);
        let old = self.rules.insert(p, nh)?;
        if old != Some(nh) {
            self.refresh(p, entry)?;
        }
        Ok(old)
    }

    fn remove(&mut self, p: Prefix<K>) -> Result<Option<NextHop>, Error> {
        let entry = self.t.entry_of::<K, S>(p);
        let Some(old) = self.rules.remove(p) else {
            return Ok(None);
        };
        // Even a removal can grow a subtree: a child that goes away may split a run of leaves.
        self.refresh(p, entry)?;
        Ok(Some(old))
    }

    #[inline]
    fn lookup(&self, key: K) -> NextHop {
        let d = self.t.direct.get(key.top(S)).copied().unwrap_or(LEAF);
        if d & LEAF != 0 {
            return d as NextHop;
        }
        let w = self.t.window(d);
        self.t.in_block(key, w, RootBlock::head(w, d), S)
    }

    /// In passes over up to [`BATCH`] keys, so that the loads of one level do not wait for each
    /// other and their cache misses overlap: all direct entries, then the `leafvec` of every
    /// key's root block (a direct leaf reads a window of zeros, a select rather than a branch),
    /// then the leaf behind it, and `vector` where the root has children, from the line the
    /// second pass brought in (carrying `vector` over from that pass measured 0.94x). Keys that go deeper than one node (prefixes longer than `S + 6`
    /// bits, a few percent of an IPv4 table) finish one at a time. Measured against the plain
    /// per-key loop: faster for keys inside the table's prefixes, which is where traffic goes,
    /// and slower for uniformly random IPv4 keys, most of which end in a direct leaf
    /// (docs/benchmarks.md). IPv6 keys take the plain loop: with an 18-bit direct table they
    /// either end in a direct entry (random keys, where the passes cost 0.71-0.76x) or go
    /// several nodes deep (real prefixes, where the passes gained nothing).
    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        if K::BITS > 32 {
            return lookup_each(self, keys, out);
        }
        // Of exactly 2^S entries, so that an index of S bits needs no bounds check.
        let Some(direct) = self.t.direct.get(..1 << S) else {
            return lookup_each(self, keys, out);
        };
        let blocks = Windows::of(&self.t.blocks.items);
        let mut d = [LEAF; BATCH];
        let mut windows = [&ZERO_WINDOW; BATCH];
        let mut leafvecs = [0; BATCH];
        for (keys, out) in keys.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            for (d, k) in d.iter_mut().zip(keys) {
                *d = direct.get(k.top(S)).copied().unwrap_or(LEAF);
            }
            for ((w, l), &d) in windows.iter_mut().zip(&mut leafvecs).zip(&d) {
                *w = blocks.at(d);
                *l = RootBlock::leafvec(w);
            }
            let each = keys.iter().zip(&d).zip(&windows).zip(&leafvecs);
            for (o, (((k, &d), w), &l)) in out.iter_mut().zip(each) {
                let found = self.t.in_block(*k, w, (RootBlock::vector(w, d), l), S);
                *o = if d & LEAF != 0 { d as NextHop } else { found };
            }
        }
    }

    /// The slots' roots, direct entries and covers, then the root nodes and the root blocks,
    /// then the same three levels of the rules: what an update of a prefix longer than `S` bits
    /// reads first. Every sum wraps: it only keeps the loads from being optimised away.
    fn warm(&self, prefixes: &[Prefix<K>]) {
        let mut sum = 0u64;
        let mut at = [(LEAF, LEAF); BATCH];
        for chunk in prefixes.chunks(BATCH) {
            for (at, p) in at.iter_mut().zip(chunk) {
                let first = p.addr().top(S);
                let r = self.t.roots[first];
                *at = (r.at, self.t.direct[first]);
                sum = sum.wrapping_add(u64::from(r.cover));
            }
            for &(root, d) in &at[..chunk.len()] {
                sum = sum.wrapping_add(self.t.root(root).leafvec);
                let w = self.t.window(d);
                sum = sum.wrapping_add(RootBlock::head(w, d).1);
            }
            sum = sum.wrapping_add(self.rules.warm(chunk));
        }
        std::hint::black_box(sum);
    }

    /// The rules, the covering next hops, the slots' root nodes and the free lists of the three
    /// arenas.
    fn trade_rules(&mut self, other: &mut Self) -> bool {
        std::mem::swap(&mut self.rules, &mut other.rules);
        std::mem::swap(&mut self.t.roots, &mut other.t.roots);
        self.t.nodes.trade_free(&mut other.t.nodes);
        self.t.leaves.trade_free(&mut other.t.leaves);
        self.t.blocks.trade_free(&mut other.t.blocks);
        true
    }

    fn start_log(&mut self) {
        let log = &mut self.t.log;
        log.on = true;
        log.direct.clear();
        log.nodes.clear();
        log.leaves.clear();
        log.blocks.clear();
    }

    /// Copies the direct entries and blocks `newer` logged, or everything if it logged nothing
    /// (it was not changed since it was built). Arenas only grow while logging: the items past
    /// this copy's end, and the root blocks' slack before it, are new blocks, whose written
    /// items were logged, and room no block has written yet, which holds the same defaults in
    /// both copies.
    fn catch_up(&mut self, newer: &Self) -> bool {
        let (t, n) = (&mut self.t, &newer.t);
        if !n.log.on {
            t.direct.copy_from_slice(&n.direct);
            t.nodes.items.clone_from(&n.nodes.items);
            t.leaves.items.clone_from(&n.leaves.items);
            t.blocks.items.clone_from(&n.blocks.items);
            return true;
        }
        t.nodes.items.resize(n.nodes.items.len(), Node::default());
        t.leaves.items.resize(n.leaves.items.len(), NO_ROUTE);
        t.blocks.items.resize(n.blocks.items.len(), 0);
        for &slot in &n.log.direct {
            t.direct[slot as usize] = n.direct[slot as usize];
        }
        copy_blocks(&mut t.nodes.items, &n.nodes.items, &n.log.nodes);
        copy_blocks(&mut t.leaves.items, &n.leaves.items, &n.log.leaves);
        copy_blocks(&mut t.blocks.items, &n.blocks.items, &n.log.blocks);
        true
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
        (t.nodes.tight, t.leaves.tight, t.blocks.tight) = (true, true, true);
        t.set_span::<K, S>(rules, Prefix::default())?;
        (t.nodes.tight, t.leaves.tight, t.blocks.tight) = (false, false, false);
        p.t.nodes.items.shrink_to_fit();
        p.t.leaves.items.shrink_to_fit();
        p.t.blocks.items.shrink_to_fit();
        Ok(p)
    }

    /// The direct table, the root blocks, and the node and leaf arenas whole, although lookups
    /// read no root node there.
    fn lookup_bytes(&self) -> usize {
        self.t.direct.len() * size_of::<u32>()
            + self.t.blocks.items.capacity()
            + self.t.nodes.items.capacity() * size_of::<Node>()
            + self.t.leaves.items.capacity() * size_of::<NextHop>()
    }
}

// ===== impl Tables =====

impl Tables {
    /// The root entry of `p`'s first slot, the next hop covering it, its root node and its
    /// block, which a prefix longer than `S` bits does not change. Read before the rules change,
    /// so that these cache misses overlap the rule trie's.
    #[inline]
    fn entry_of<K: Key, const S: u32>(&self, p: Prefix<K>) -> Entry {
        let first = p.addr().top(S);
        let Root { at: root_at, cover } = self.roots[first];
        Entry {
            root_at,
            cover,
            root: self.root(root_at),
            block: self.block_at(first),
        }
    }

    /// Slot `slot`'s direct entry and the length of the block it points to (0 for a leaf):
    /// what [`Tables::emit`] replaces.
    #[inline]
    fn block_at(&self, slot: usize) -> (u32, u32) {
        let d = self.direct[slot];
        if d & LEAF != 0 {
            return (d, 0);
        }
        let (_, leafvec) = RootBlock::head(self.window(d), d);
        (d, RootBlock::len_of(d & KIDS != 0, leafvec))
    }

    /// The root node of `roots` entry `d`; node 0 stands in for a leaf entry, so that callers
    /// working on a batch select rather than branch.
    #[inline]
    fn root(&self, d: u32) -> Node {
        let at = if d & LEAF == 0 { d as usize } else { 0 };
        self.nodes.items.get(at).copied().unwrap_or_default()
    }

    /// Sets the direct entries prefix `p` (at most `S` bits) spans from the rules.
    fn set_span<K: Key, const S: u32>(
        &mut self,
        rules: &Rules<K>,
        p: Prefix<K>,
    ) -> Result<(), Error> {
        let first = p.addr().top(S);
        let mut result = Ok(());
        rules.expand(p, S, &mut |rel, n, best| {
            if result.is_ok() {
                result = self.set_slot(rules, first + rel, n, best);
            }
        });
        result
    }

    /// The root block of direct entry `d` ([`Windows::at`]).
    #[inline]
    fn window(&self, d: u32) -> &[u8; RootBlock::MAX] {
        Windows::of(&self.blocks.items).at(d)
    }

    /// The rest of a lookup from window `w` of a root (not a leaf), whose bitmaps are
    /// `(vector, leafvec)`, `off` bits down. A malformed block reads a wrong leaf of its window,
    /// never past it.
    #[inline]
    fn in_block<K: Key>(
        &self,
        key: K,
        w: &[u8; RootBlock::MAX],
        (vector, leafvec): (u64, u64),
        off: u32,
    ) -> NextHop {
        let bit = 1u64 << key.stride6(off);
        let below = (bit << 1).wrapping_sub(1);
        if vector & bit != 0 {
            let first: u32 = read(w, RootBlock::FIRST);
            let c = first as usize + (vector & below).count_ones() as usize - 1;
            return self.descend(key, c, off + 6);
        }
        // Run `n - 1` of the slot's `n` runs so far: every offset the count gives is inside the
        // window, so the read needs no check. No run at all (a leaf's window of zeros) reads the
        // end of `leafvec`.
        let runs = (leafvec & below).count_ones() as usize;
        read(w, RootBlock::LEAVES - 2 + 2 * runs)
    }

    /// The rest of a lookup from node `i`, `off` bits down.
    #[inline]
    fn descend<K: Key>(&self, key: K, mut i: usize, mut off: u32) -> NextHop {
        loop {
            let Some(n) = self.nodes.items.get(i) else {
                return NO_ROUTE;
            };
            match n.step(key.stride6(off)) {
                Step::Leaf(run) => return self.leaf(n, run),
                Step::Child(c) => (i, off) = (c, off + 6),
            }
        }
    }

    /// Run `run` of node `n`'s leaves; `n` is not a root (whose leaves are in its root block).
    /// Selects rather than branches between the inline leaf and the stored one (an inline node
    /// reads leaf 0, which stays in cache), so that a batch of lookups does not mispredict on
    /// the kind of node.
    #[inline]
    fn leaf(&self, n: &Node, run: usize) -> NextHop {
        let inline = n.inline();
        let at = if inline { 0 } else { n.base0 as usize + run };
        let stored = self.leaves.items.get(at).copied().unwrap_or(NO_ROUTE);
        let packed = u64::from(n.base0) | u64::from(n.base1) << 32;
        let own = (packed >> (16 * (run % 4))) as NextHop;
        if inline { own } else { stored }
    }

    /// Sets slot `slot` from rule node `n` (the node `S` bits down, if any) and `best`, the
    /// next hop covering the whole slot.
    fn set_slot<K: Key>(
        &mut self,
        rules: &Rules<K>,
        slot: usize,
        n: Option<NodeId>,
        best: NextHop,
    ) -> Result<(), Error> {
        let block = self.block_at(slot);
        let old = self.roots[slot].at;
        if old & LEAF == 0 {
            let root = self.nodes.items[old as usize];
            self.free_below(root, 0);
            self.nodes.release(old, 1);
        }
        let (entry, runs) = match n {
            Some(n) => {
                let (node, runs) = self.build(rules, n, best, true)?;
                let entry = if node.vector == 0 && runs.len == 1 {
                    // One run: the subtree only holds more-specifics of one next hop.
                    LEAF | u32::from(runs.leaves[0])
                } else {
                    let root = self.nodes.reserve(1)?;
                    self.set_node(root as usize, node);
                    root
                };
                (entry, Some(runs))
            }
            None => (LEAF | u32::from(best), None),
        };
        self.roots[slot] = Root {
            at: entry,
            cover: best,
        };
        self.emit(slot, block, runs.as_ref().map_or(&[], LeafRuns::as_slice))
    }

    /// Writes what lookups read of slot `slot` after its root changed: the leaf itself, or the
    /// root's block, over the old one when it has the same shape (a next hop changed), else in
    /// a new place, the old one recycled. `(old, old_len)` is what [`Tables::block_at`] said
    /// before the change; `leaves` are the root's, one per run, which only the block holds.
    fn emit(
        &mut self,
        slot: usize,
        (old, old_len): (u32, u32),
        leaves: &[NextHop],
    ) -> Result<(), Error> {
        let r = self.roots[slot].at;
        let mut keep_old = old & LEAF != 0;
        let entry = if r & LEAF != 0 {
            r
        } else {
            let root = self.nodes.items[r as usize];
            let mut block = RootBlock::of(root);
            let bytes = block.bytes(leaves);
            let len = bytes.len() as u32;
            let kids = root.vector != 0;
            let at = if !keep_old && old_len == len && (old & KIDS != 0) == kids {
                keep_old = true;
                let at = RootBlock::start(old);
                self.blocks.items[at as usize..][..bytes.len()].copy_from_slice(bytes);
                at
            } else {
                let at = self.blocks.place(bytes)?;
                if at >= KIDS {
                    // The offset would run into the flag bit. The slot keeps its old block, which
                    // may point at freed children: the FIB stops taking batches after an error.
                    self.blocks.release(at, len);
                    return Err(Error::TableFull("poptrie root blocks"));
                }
                at
            };
            self.log.block(Block::Roots, at, len);
            RootBlock::entry(at, kids)
        };
        if !keep_old {
            self.blocks.release(RootBlock::start(old), old_len);
        }
        self.direct[slot] = entry;
        self.log.direct(slot);
        Ok(())
    }

    /// After the rule of `p` (longer than `S`) changed: walks down the nodes of slot `slot`
    /// (rule node `n`) to the deepest node that must change, and rebuilds that one in place.
    fn refresh_below<K: Key, const S: u32>(
        &mut self,
        rules: &Rules<K>,
        p: Prefix<K>,
        (slot, entry): (usize, Entry),
        n: Option<NodeId>,
    ) -> Result<(), Error> {
        let Some(mut t) = n.filter(|_| entry.root_at & LEAF == 0) else {
            // The entry turns from leaf to subtree or back.
            return self.set_slot(rules, slot, n, entry.cover);
        };
        let len = u32::from(p.len());
        let (mut at, mut node) = (entry.root_at as usize, entry.root);
        let (mut off, mut inherited) = (S, entry.cover);
        while len > off + 6 {
            let s = p.addr().stride6(off);
            match (rules.step(t, s, inherited), node.step(s)) {
                ((Some(below), below_best), Step::Child(c)) => {
                    (at, node) = (c, self.nodes.items[c]);
                    (t, off, inherited) = (below, off + 6, below_best);
                }
                // The node gains or loses a child: rebuild it.
                _ => break,
            }
        }
        let root = off == S;
        let patched = if len <= off + 6 {
            self.patch(rules, p, (at, node, off), t, inherited, root)?
        } else {
            None
        };
        let runs = match patched {
            Some(runs) => runs,
            None => {
                let (node, runs) = self.reshape(rules, p, (node, off), t, inherited, root)?;
                self.set_node(at, node);
                runs
            }
        };
        // The root itself was rewritten (not a node below it): its block follows.
        if root {
            return self.emit(slot, entry.block, runs.as_slice());
        }
        Ok(())
    }

    /// Rebuilds node `node`, `off` bits down (rule node `t`, `inherited` covering it), whose
    /// children changed with the rule of `p`: new leaves and a new block of children, in which
    /// the children outside `p`'s slots keep their subtrees. A subtree is moved, not rebuilt,
    /// so that an update under a busy node (an IPv6 /48 under its /32) costs one node. Returns
    /// the node and its leaves, which a `root`'s block alone keeps.
    fn reshape<K: Key>(
        &mut self,
        rules: &Rules<K>,
        p: Prefix<K>,
        (node, off): (Node, u32),
        t: NodeId,
        inherited: NextHop,
        root: bool,
    ) -> Result<(Node, LeafRuns), Error> {
        let slots = rules.slots(t, inherited);
        // The slots of `p`: one when `p` lies below this node, its span when in it.
        let width = 1u32 << (off + 6).saturating_sub(u32::from(p.len())).min(6);
        let span = u64::MAX >> (64 - width) << p.addr().stride6(off);
        let keep = node.vector & slots.kid_mask & !span;
        let new = self.build_from(rules, &slots, (node, keep), root)?;
        self.free_below(node, keep);
        Ok(new)
    }

    /// Rewrites what prefix `p` changed in node `node`, at index `at` and depth `off` (rule node `t`, `inherited`
    /// covering it), when no slot turns from leaf to child or back: the leaves, and the children
    /// under `p`, which inherit from it. Returns the node's leaves (which a `root`'s block
    /// alone keeps), or `None`, having changed nothing, when the node's shape changes.
    fn patch<K: Key>(
        &mut self,
        rules: &Rules<K>,
        p: Prefix<K>,
        (at, node, off): (usize, Node, u32),
        t: NodeId,
        inherited: NextHop,
        root: bool,
    ) -> Result<Option<LeafRuns>, Error> {
        let slots = rules.slots(t, inherited);
        if slots.kid_mask != node.vector {
            return Ok(None);
        }
        // Host bits are zero: the stride holds the first slot of the span.
        let first = p.addr().stride6(off);
        let span = first..first + (1 << (off + 6 - u32::from(p.len())));
        for s in span {
            let (Some(kid), Step::Child(i)) = (slots.kid(s), node.step(s)) else {
                continue;
            };
            let old = self.nodes.items[i];
            self.free_below(old, 0);
            let (new, _) = self.build(rules, kid, slots.best[s], false)?;
            self.set_node(i, new);
        }
        let (leafvec, runs) = LeafRuns::of(&slots, node.vector);
        let leaves = runs.as_slice();
        // Same vector and as many leaves: the same kind of node, the same block if it has one.
        let old = node.leaf_block();
        let keep = old.filter(|&(_, len)| len as usize == leaves.len());
        if let (Some((base0, len)), None) = (old, keep) {
            self.leaves.release(base0, len);
        }
        let new = Node::new(
            (node.vector, leafvec),
            leaves,
            node.base1,
            |leaves| match keep {
                _ if root => Ok(NO_LEAVES),
                Some((base0, _)) => {
                    self.set_leaves(base0, leaves);
                    Ok(base0)
                }
                None => self.place_leaves(leaves),
            },
        )?;
        self.set_node(at, new);
        Ok(Some(runs))
    }

    /// Builds the node of rule node `t`, `inherited` covering it, and everything below it;
    /// returns it with its leaves, as [`Tables::build_from`] does.
    fn build<K: Key>(
        &mut self,
        rules: &Rules<K>,
        t: NodeId,
        inherited: NextHop,
        root: bool,
    ) -> Result<(Node, LeafRuns), Error> {
        let slots = rules.slots(t, inherited);
        self.build_from(rules, &slots, (Node::default(), 0), root)
    }

    /// Builds the node whose slots are `slots`: its leaves, then its children, each group in
    /// a block of its own. A child in a slot of `keep` is `old`'s child there, moved as it is;
    /// the others are built. Returns the node and its leaves, which a `root` keeps in its
    /// block alone, not in the leaf arena.
    fn build_from<K: Key>(
        &mut self,
        rules: &Rules<K>,
        slots: &Slots,
        (old, keep): (Node, u64),
        root: bool,
    ) -> Result<(Node, LeafRuns), Error> {
        let vector = slots.kid_mask;
        let (leafvec, leaves) = LeafRuns::of(slots, vector);
        let base1 = self.nodes.reserve(vector.count_ones() as usize)?;
        let node = Node::new((vector, leafvec), leaves.as_slice(), base1, |leaves| {
            if root {
                Ok(NO_LEAVES)
            } else {
                self.place_leaves(leaves)
            }
        })?;
        for (k, (s, kid)) in slots.kids().enumerate() {
            let child = if keep >> s & 1 != 0
                && let Step::Child(moved) = old.step(s)
            {
                self.nodes.items[moved]
            } else {
                self.build(rules, kid, slots.best[s], false)?.0
            };
            self.set_node(base1 as usize + k, child);
        }
        Ok((node, leaves))
    }

    /// Writes node `i`, logging it.
    #[inline]
    fn set_node(&mut self, i: usize, node: Node) {
        self.nodes.items[i] = node;
        self.log.block(Block::Nodes, i as u32, 1);
    }

    /// Writes `leaves` at `at`, logging them.
    #[inline]
    fn set_leaves(&mut self, at: u32, leaves: &[NextHop]) {
        let i = at as usize;
        self.leaves.items[i..i + leaves.len()].copy_from_slice(leaves);
        self.log.block(Block::Leaves, at, leaves.len() as u32);
    }

    /// Writes `leaves` into a new block, logging them.
    fn place_leaves(&mut self, leaves: &[NextHop]) -> Result<u32, Error> {
        let at = self.leaves.place(leaves)?;
        self.log.block(Block::Leaves, at, leaves.len() as u32);
        Ok(at)
    }

    /// Recycles the blocks below `node`: its leaves, its block of children and, recursively,
    /// the subtrees of its children except those in the slots of `keep` (moved elsewhere).
    fn free_below(&mut self, node: Node, keep: u64) {
        let kids = (0..64).filter(|&s| node.vector >> s & 1 != 0);
        for (k, s) in kids.enumerate() {
            if keep >> s & 1 == 0 {
                self.free_below(self.nodes.items[node.base1 as usize + k], 0);
            }
        }
        self.nodes.release(node.base1, node.vector.count_ones());
        if let Some((base0, len)) = node.leaf_block() {
            self.leaves.release(base0, len);
        }
    }
}

/// The arena a logged block is in.
#[derive(Clone, Copy)]
enum Block {
    Nodes,
    Leaves,
    Roots,
}

// ===== impl Log =====

impl Log {
    /// Notes direct entry `slot` as written, if logging.
    #[inline]
    fn direct(&mut self, slot: usize) {
        if self.on {
            self.direct.push(slot as u32);
        }
    }

    /// Notes `len` items written at `start`, if logging, extending the last block noted when
    /// they follow it (a node's children are written one after the other).
    #[inline]
    fn block(&mut self, arena: Block, start: u32, len: u32) {
        if !self.on {
            return;
        }
        let blocks = match arena {
            Block::Nodes => &mut self.nodes,
            Block::Leaves => &mut self.leaves,
            Block::Roots => &mut self.blocks,
        };
        match blocks.last_mut() {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => blocks.push((start, len)),
        }
    }
}

/// Copies the `blocks` of `from` into `to`.
fn copy_blocks<T: Copy>(to: &mut [T], from: &[T], blocks: &[(u32, u32)]) {
    for &(start, len) in blocks {
        let r = start as usize..(start + len) as usize;
        to[r.clone()].copy_from_slice(&from[r]);
    }
}

/// The byte layout of a root block: when the root has children, `vector` (8 bytes) and the first
/// child's index (4); then `leafvec` (8) and one 16-bit leaf per run. A root without children
/// (where most keys inside a real IPv4 table's prefixes end) spends no bytes on the first two.
/// Its direct entry points 12 bytes before its block, so that in the window a lookup reads
/// every field is at the same offset whatever the root: no select, and no read that waits for
/// a count.
#[derive(Clone, Copy)]
struct RootBlock {
    node: Node,
    /// The encoded bytes; only `len()` of them count.
    buf: [u8; RootBlock::MAX],
}

impl RootBlock {
    /// The bytes of `vector` and the first child's index, ahead of `leafvec` in a block with
    /// children.
    const KIDS_LEN: usize = 12;
    /// Where the first child's index is in a window.
    const FIRST: usize = 8;
    const LEAFVEC: usize = Self::KIDS_LEN;
    const LEAVES: usize = Self::LEAFVEC + 8;
    const MAX: usize = Self::LEAVES + 2 * 64;

    /// The direct entry of the block at `at`, of a root with children or not.
    fn entry(at: u32, kids: bool) -> u32 {
        if kids {
            at | KIDS
        } else {
            at - Self::KIDS_LEN as u32
        }
    }

    /// Where the block of direct entry `d` (no leaf) starts.
    fn start(d: u32) -> u32 {
        if d & KIDS != 0 {
            d & !KIDS
        } else {
            d + Self::KIDS_LEN as u32
        }
    }

    /// The bitmaps `(vector, leafvec)` in window `w` of direct entry `d`.
    #[inline]
    fn head(w: &[u8; Self::MAX], d: u32) -> (u64, u64) {
        (Self::vector(w, d), Self::leafvec(w))
    }

    /// `vector` in window `w` of direct entry `d`, read only for a block with children: a
    /// branch, which measured faster than reading the word and masking it (docs/benchmarks.md).
    #[inline]
    fn vector(w: &[u8; Self::MAX], d: u32) -> u64 {
        if d & KIDS != 0 { read(w, 0) } else { 0 }
    }

    #[inline]
    fn leafvec(w: &[u8; Self::MAX]) -> u64 {
        read(w, Self::LEAFVEC)
    }

    fn of(node: Node) -> Self {
        RootBlock {
            node,
            buf: [0; Self::MAX],
        }
    }

    /// Bytes of the block of a root with children or not, and with `leafvec`.
    #[inline]
    fn len_of(kids: bool, leafvec: u64) -> u32 {
        let kids_len = if kids { Self::KIDS_LEN } else { 0 };
        (kids_len + size_of::<u64>() + 2 * leafvec.count_ones() as usize) as u32
    }

    /// The block's bytes, with the node's `leaves` (one per run).
    fn bytes(&mut self, leaves: &[NextHop]) -> &[u8] {
        let n = self.node;
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            self.buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if n.vector != 0 {
            put(&n.vector.to_le_bytes());
            put(&n.base1.to_le_bytes());
        }
        put(&n.leafvec.to_le_bytes());
        // One leaf per run, whatever `leaves` holds, so that the length is what `len_of` says.
        debug_assert_eq!(leaves.len(), n.leafvec.count_ones() as usize);
        for i in 0..n.leafvec.count_ones() as usize {
            put(&leaves.get(i).copied().unwrap_or(NO_ROUTE).to_le_bytes());
        }
        &self.buf[..at]
    }
}

/// A little-endian integer read from `bytes` at `at`; 0 where `bytes` ends first, so that a
/// lookup never panics.
#[inline]
fn read<const N: usize, T: FromLe<N>>(bytes: &[u8], at: usize) -> T {
    bytes
        .get(at..at.wrapping_add(N))
        .and_then(|b| b.try_into().ok())
        .map_or_else(T::zero, T::from_le)
}

/// The integers root blocks hold.
trait FromLe<const N: usize> {
    fn from_le(b: [u8; N]) -> Self;
    fn zero() -> Self;
}

macro_rules! from_le {
    ($($t:ty),*) => {$(
        impl FromLe<{ size_of::<$t>() }> for $t {
            #[inline]
            fn from_le(b: [u8; size_of::<$t>()]) -> Self {
                <$t>::from_le_bytes(b)
            }
            fn zero() -> Self {
                0
            }
        }
    )*};
}
from_le!(u16, u32, u64);

// ===== impl Windows =====

impl<'a> Windows<'a> {
    /// The windows of root blocks `items`, which end in the arena's slack of
    /// [`RootBlock::MAX`] bytes (a window of zeros everywhere if they are shorter).
    #[inline]
    fn of(items: &'a [u8]) -> Self {
        match items.len().checked_sub(RootBlock::MAX) {
            Some(limit) => Windows { items, limit },
            None => Windows {
                items: &ZERO_WINDOW,
                limit: 0,
            },
        }
    }

    /// The root block of direct entry `d`, as a window of [`RootBlock::MAX`] bytes, so that a
    /// lookup's reads in it need no bounds checks of their own: the offset is clamped to
    /// `limit` (a select), and the compiler sees that the window then ends in bounds
    /// (docs/benchmarks.md). A leaf's [`LEAF`] bit, or any offset past the last block, clamps
    /// to the slack at the end, which holds zeros; a malformed offset below it reads other
    /// blocks' bytes, a wrong answer but never a read out of bounds.
    #[inline]
    fn at(self, d: u32) -> &'a [u8; RootBlock::MAX] {
        let at = ((d & !KIDS) as usize).min(self.limit);
        self.items
            .get(at..at + RootBlock::MAX)
            .and_then(|w| w.try_into().ok())
            .unwrap_or(&ZERO_WINDOW)
    }
}

// ===== impl LeafRuns =====

impl LeafRuns {
    /// The runs of `slots` outside `vector`, and the `leafvec` marking where each starts: at a
    /// leaf slot whose next hop differs from the leaf slot before it, if any. Every update
    /// rebuilds at least one node's runs, so the comparisons go four slots to a word, and the
    /// work per slot is a few instructions (docs/benchmarks.md); only a leaf slot behind a
    /// child looks back on its own.
    fn of(slots: &Slots, vector: u64) -> (u64, Self) {
        let best = &slots.best;
        let leaf = !vector;
        let behind_kid = leaf & vector << 1;
        let mut leafvec = differs_from_before(best) & leaf & !behind_kid;
        for s in bits(behind_kid) {
            let before = leaf & ((1 << s) - 1);
            let starts = before == 0 || best[s] != best[63 - before.leading_zeros() as usize];
            leafvec |= u64::from(starts) << s;
        }
        let mut runs = LeafRuns {
            leaves: [NO_ROUTE; 64],
            len: leafvec.count_ones() as usize,
        };
        for (l, s) in runs.leaves.iter_mut().zip(bits(leafvec)) {
            *l = best[s];
        }
        (leafvec, runs)
    }

    fn as_slice(&self) -> &[NextHop] {
        &self.leaves[..self.len]
    }
}

/// Bit `s` set where slot `s` holds another next hop than slot `s - 1`; bit 0 always set.
#[inline]
fn differs_from_before(best: &[NextHop; 64]) -> u64 {
    const LOW: u64 = 0x7fff_7fff_7fff_7fff;
    const HIGH: u64 = !LOW;
    // Moves the bits 0, 16, 32 and 48 to 48, 49, 50 and 51; no other products meet there.
    const GATHER: u64 = 1 << 48 | 1 << 33 | 1 << 18 | 1 << 3;
    let (mut diff, mut before) = (1, 0u64);
    for (i, w) in best.chunks_exact(4).enumerate() {
        let word = w
            .iter()
            .rev()
            .fold(0u64, |word, &nh| word << 16 | u64::from(nh));
        // Each 16-bit lane against the lane before it, the first against the last of `before`.
        let x = word ^ (word << 16 | before >> 48);
        before = word;
        // The top bit of each lane: set where the lane is not zero.
        let nonzero = (((x & LOW) + LOW) | x) & HIGH;
        diff |= (nonzero >> 15).wrapping_mul(GATHER) >> 48 << (4 * i);
    }
    diff
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Reference;

    /// Inserts (`Some`) or removes (`None`) `prefix` in `t` and in `reference` alike.
    fn apply(
        t: &mut Poptrie4,
        reference: &mut Reference<u32>,
        prefix: Prefix<u32>,
        nh: Option<NextHop>,
    ) {
        match nh {
            Some(nh) => {
                t.insert(prefix, nh).unwrap();
                reference.insert(prefix, nh).unwrap();
            }
            None => {
                t.remove(prefix).unwrap();
                reference.remove(prefix).unwrap();
            }
        }
    }

    proptest! {
        /// Against the plain walk over the leaf slots, on next hops that often repeat and on
        /// children anywhere, slot 0 and 63 among them.
        #[test]
        fn leaf_runs_match_a_walk_over_the_slots(
            best in proptest::array::uniform32(0u16..4),
            more in proptest::array::uniform32(0u16..4),
            vector in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), any::<u64>().prop_map(|v| v & v >> 7)],
        ) {
            let rules = Rules::<u32>::new();
            let mut slots = rules.slots(0, NO_ROUTE);
            slots.best[..32].copy_from_slice(&best);
            slots.best[32..].copy_from_slice(&more);
            let (mut leafvec, mut leaves, mut last) = (0u64, Vec::new(), None);
            for s in bits(!vector) {
                if last != Some(slots.best[s]) {
                    leafvec |= 1 << s;
                    leaves.push(slots.best[s]);
                }
                last = Some(slots.best[s]);
            }
            let (got, runs) = LeafRuns::of(&slots, vector);
            prop_assert_eq!(got, leafvec);
            prop_assert_eq!(runs.as_slice(), &leaves[..]);
        }
    }

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

    /// A slot's direct entry points to a block of its root's bitmaps and leaves, marked when
    /// the root has children; every change of the root writes a new block and recycles the old.
    #[test]
    fn root_blocks_follow_their_roots() {
        let p = |a: u32, len| Prefix::new(a, len).unwrap();
        // Built, so that the slot's block of two runs (12 bytes, its window 12 bytes before it)
        // is the arena's last: its window reaches into the slack, not past the arena.
        let first = p(0x0a00_0000, 24);
        let mut t = Poptrie4::from_routes(&[(first, 1)]).unwrap();
        let mut reference = Reference::<u32>::from_routes(&[(first, 1)]).unwrap();
        assert_eq!(
            t.t.blocks.items.len(),
            (t.t.direct[first.addr().top(18)] + 24) as usize + RootBlock::MAX
        );
        let slot = 0x0a00_0000u32.top(18);
        let mut both = |t: &mut Poptrie4, prefix, nh: Option<NextHop>| {
            apply(t, &mut reference, prefix, nh);
            let keys: Vec<u32> = (0x0a00_0000..0x0a00_4000).step_by(7).collect();
            let mut out = vec![0; keys.len()];
            t.lookup_batch(&keys, &mut out);
            for (&k, &o) in keys.iter().zip(&out) {
                assert_eq!((o, t.lookup(k)), (reference.lookup(k), o), "{k:#x}");
            }
            let d = t.t.direct[slot];
            assert_eq!(d & LEAF, 0, "a root, not a leaf");
            let (vector, leafvec) = RootBlock::head(t.t.window(d), d);
            let root = t.t.root(t.t.roots[slot].at);
            assert_eq!((vector, leafvec), (root.vector, root.leafvec));
            assert_eq!(d & KIDS != 0, root.vector != 0);
        };
        for i in 0..10u32 {
            both(&mut t, p(0x0a00_0000 | i << 9, 24), Some(i as NextHop + 1));
        }
        let size = t.t.blocks.items.len();
        for round in 0..50 {
            // A child below the root, then gone again; then a leaf of the root changes.
            both(&mut t, p(0x0a00_0310, 28), Some(20));
            both(&mut t, p(0x0a00_0310, 28), None);
            both(&mut t, p(0x0a00_0400, 24), Some(round % 3 + 1));
        }
        // Blocks of the few sizes in use come back from the free lists.
        assert!(t.t.blocks.items.len() <= size + 4 * RootBlock::MAX);
    }

    /// A direct entry at the wrong offset (only a bug could write one) gives a wrong next hop,
    /// never a panic: at every offset of the arena, with and without children, where the window
    /// holds other blocks' bytes and `vector` and the first child are arbitrary; past the
    /// arena, it reads the slack's zeros: no route.
    #[test]
    fn a_wrong_block_offset_never_panics() {
        let p = |a: u32, len| Prefix::new(a, len).unwrap();
        // One slot with children and runs, and the blocks of other slots around it.
        let routes: Vec<_> = (0..64u32)
            .flat_map(|i| {
                let nh = i as NextHop;
                [
                    (p(0x0a00_0000 | i << 8, 24), nh + 1),
                    (p(0x0a00_0080 | i << 8, 25 + i as u8 % 8), nh + 100),
                    (p(0x0b00_0000 | i << 14 | (i % 7) << 8, 24), nh + 200),
                ]
            })
            .collect();
        let mut t = Poptrie4::from_routes(&routes).unwrap();
        let slot = 0x0a00_0000u32.top(18);
        let keys: Vec<u32> = (0x0a00_0000..0x0a00_4000).step_by(61).collect();
        let mut out = vec![0; keys.len()];
        let end = t.t.blocks.items.len() as u32;
        for at in (0..end).chain([end, KIDS - 1]) {
            for bad in [at, at | KIDS] {
                t.t.direct[slot] = bad;
                t.lookup_batch(&keys, &mut out);
                for (&k, &o) in keys.iter().zip(&out) {
                    assert_eq!(t.lookup(k), o, "{bad:#x}");
                }
                if at >= end - RootBlock::MAX as u32 {
                    assert!(out.iter().all(|&o| o == NO_ROUTE), "{bad:#x}");
                }
            }
        }
    }

    #[test]
    fn small_subtrees_need_no_leaf_loads() {
        let p = |a: u32, len| Prefix::new(a, len).unwrap();
        let mut t = Poptrie4::default();
        let mut reference = Reference::<u32>::default();
        let mut both = |t: &mut Poptrie4, prefix, nh: Option<NextHop>| {
            apply(t, &mut reference, prefix, nh);
            for k in (0x0a00_0000..0x0a01_0000).step_by(97) {
                assert_eq!(t.lookup(k), reference.lookup(k), "{k:#x}");
            }
        };
        let slot = 0x0a00_0000u32.top(18);
        // The child of the root under 10.0.1.0/24.
        let child = |t: &Poptrie4| {
            let root = t.t.root(t.t.roots[slot].at);
            // A root's leaves are in its block alone, whatever their number.
            assert!(root.leaf_block().is_none());
            match root.step(0x0a00_0100u32.stride6(18)) {
                Step::Child(i) => t.t.nodes.items[i],
                Step::Leaf(_) => panic!("no child under 10.0.1.0/24"),
            }
        };
        both(&mut t, p(0x0a00_0000, 16), Some(1));
        // More-specifics of the covering next hop: one run, so a direct leaf.
        both(&mut t, p(0x0a00_0100, 24), Some(1));
        assert_eq!((t.t.direct[slot], t.t.roots[slot].at), (LEAF | 1, LEAF | 1));
        // Three runs (1, 2, 1) under the /24: a child with its leaves inline.
        both(&mut t, p(0x0a00_0140, 26), Some(2));
        let c = child(&t);
        assert!(c.inline() && c.leaf_block().is_none());
        assert!(t.t.leaves.items.is_empty());
        // Seven runs: a block; patched in place as next hops change, back inline when they go.
        for (i, nh) in [(0, 3), (2, 4), (4, 5)] {
            both(&mut t, p(0x0a00_0100 | i << 4, 28), Some(nh));
        }
        assert!(child(&t).leaf_block().is_some());
        both(&mut t, p(0x0a00_0100, 28), Some(6));
        for i in [0, 2, 4] {
            both(&mut t, p(0x0a00_0100 | i << 4, 28), None);
        }
        assert!(child(&t).inline());
    }
}
