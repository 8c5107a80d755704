//! Longest-prefix match: one trait, several tables.
//!
//! - [`Poptrie`]: the data path's table, a compressed multibit trie (direct pointing on the top
//!   bits, then 64-way nodes indexed by popcount) that keeps a full IPv4 table in a few MiB.
//! - [`Dir24`]: DIR-24-8 as in DPDK's `rte_lpm`, kept as the in-run yardstick.
//! - [`Reference`]: one hash map per length, obviously right and slow, for tests.
//!
//! Tables that take incremental updates keep their rules in [`rules::Rules`], a multibit trie
//! the update code asks "what covers this?" and "what lies under this slot?"; variable-size
//! groups of both live in blocks of an [`arena::Arena`].

mod arena;
mod dir24;
mod poptrie;
mod reference;
pub(crate) mod rules;

pub use dir24::Dir24;
pub use poptrie::{Poptrie, Poptrie4, Poptrie6};
pub use reference::Reference;

use crate::{Error, Key, Prefix};

/// Index into the next-hop table. 0 is [`NO_ROUTE`].
pub type NextHop = u16;

/// What a lookup returns when no prefix matches.
pub const NO_ROUTE: NextHop = 0;

/// A longest-prefix-match table from prefixes to next-hop indices.
pub trait Lpm<K: Key> {
    /// Adds or replaces a prefix; returns the next hop it replaced.
    fn insert(&mut self, prefix: Prefix<K>, nh: NextHop) -> Result<Option<NextHop>, Error>;

    /// Removes a prefix; returns its next hop if it was there. Fails only when a table that
    /// must reshape itself runs out of index space.
    fn remove(&mut self, prefix: Prefix<K>) -> Result<Option<NextHop>, Error>;

    /// The next hop of the longest prefix holding `key`, or [`NO_ROUTE`].
    fn lookup(&self, key: K) -> NextHop;

    /// Looks up `keys[i]` into `out[i]` for every `i` both slices have: the data path's call,
    /// once per burst. One key after the other, the lookups are independent, so the core runs
    /// several at once and their cache misses overlap; a table may override it.
    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        lookup_each(self, keys, out);
    }

    /// Reads what updates of `prefixes` will read first, all of them level by level, so that
    /// their cache misses overlap instead of following one another: a hint before applying a
    /// batch, which changes nothing. Tables without a gain from it ignore it.
    fn warm(&self, prefixes: &[Prefix<K>]) {
        let _ = prefixes;
    }

    /// For the FIB's two copies: moves what only updates consult (the rules, which blocks are
    /// free) to `other` and takes `other`'s, leaving lookups as they are. Returns false for a
    /// table that keeps no such state apart, whose copies each stay whole.
    fn trade_rules(&mut self, other: &mut Self) -> bool {
        let _ = other;
        false
    }

    /// For the FIB's two copies: from here on, notes what updates write, so that the other copy
    /// can copy it ([`Lpm::catch_up`]). Tables that cannot ignore it.
    fn start_log(&mut self) {}

    /// For the FIB's two copies: makes this copy equal to `newer`, which is this copy with the
    /// updates since [`Lpm::start_log`] applied, by copying what they wrote. Returns false, having
    /// done nothing, for a table that cannot: the caller applies the updates again or, if the
    /// copy traded its rules away, copies `newer`.
    fn catch_up(&mut self, newer: &Self) -> bool {
        let _ = newer;
        false
    }

    /// Number of prefixes.
    fn len(&self) -> usize;

    /// Whether the table holds no prefix.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the structure lookups read (not the rules kept for updates).
    fn lookup_bytes(&self) -> usize;

    /// Builds a table from a list of routes; later duplicates replace earlier ones. Tables with a
    /// faster way than inserting one by one override it.
    fn from_routes(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error>
    where
        Self: Default,
    {
        let mut t = Self::default();
        for &(p, nh) in routes {
            t.insert(p, nh)?;
        }
        Ok(t)
    }
}

/// One lookup after the other: the default batch.
#[inline]
fn lookup_each<K: Key, T: Lpm<K> + ?Sized>(t: &T, keys: &[K], out: &mut [NextHop]) {
    for (k, o) in keys.iter().zip(out.iter_mut()) {
        *o = t.lookup(*k);
    }
}

/// Refuses next hop 0, which means "no route".
#[inline]
pub(crate) fn check_nh(nh: NextHop) -> Result<(), Error> {
    if nh == NO_ROUTE {
        Err(Error::ReservedNextHop)
    } else {
        Ok(())
    }
}
