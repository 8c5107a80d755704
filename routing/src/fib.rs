//! The FIB and its lock-free publication.
//!
//! Forwarding cores read a [`Fib`] snapshot through a [`FibReader`]: one atomic load per burst
//! (`arc-swap`), no lock, and the snapshot stays whole for as long as they hold it. The control
//! plane changes it through the one [`FibWriter`], batch by batch:
//!
//! ```text
//!   batch k ──> spare (version k-1, behind by batch k-1)
//!                 │  readers gone?  yes: catch up with batch k-1, apply batch k in place
//!                 │                 no:  copy the current version, apply batch k
//!                 v
//!               swap it in as version k+1; the old current becomes the spare
//! ```
//!
//! The writer never waits: a version still held by a reader is simply not reused, and the last
//! reader to drop it frees it. With readers that reload every burst the spare is free again long
//! before the next batch.
//!
//! Replaying a batch on the spare would cost as much as applying it. Tables that can
//! ([`Lpm::trade_rules`]) keep what only updates consult (a Poptrie's rule trie, root nodes and
//! free lists) once, in the writer, handed to the copy being changed; that copy logs what the
//! batch wrote ([`Lpm::start_log`]), and the spare catches up by copying those blocks
//! ([`Lpm::catch_up`]).

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::lpm::{Lpm, NextHop, check_nh};

/// Updates whose first reads go out together ([`Lpm::warm`]) before they are applied.
const WARM: usize = 32;
use crate::{Error, Key, Prefix};

/// Where a packet goes: out of `port`, to the neighbour `addr` (zero for a directly connected
/// destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gateway<K> {
    /// Output port.
    pub port: u16,
    /// Neighbour address, or zero when the destination itself is on the link.
    pub addr: K,
}

/// One change to a FIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update<K> {
    /// Add a prefix or change its next hop.
    Route(Prefix<K>, NextHop),
    /// Remove a prefix.
    Withdraw(Prefix<K>),
    /// Define next hop `id` as an ECMP group of paths (one path: a plain next hop).
    Group(NextHop, Vec<Gateway<K>>),
}

/// A forwarding table: the LPM table and the next-hop groups it points into.
#[derive(Clone, Debug)]
pub struct Fib<K, T> {
    version: u64,
    lpm: T,
    groups: Vec<Vec<Gateway<K>>>,
    /// Prefixes, kept here: a published copy of a table that trades its rules does not know.
    len: usize,
}

/// Publishes new FIB versions.
#[derive(Debug)]
pub struct FibWriter<K, T> {
    shared: Arc<ArcSwap<Fib<K, T>>>,
    spare: Option<Arc<Fib<K, T>>>,
    behind: Vec<Update<K>>,
    /// What the copies share, when the table trades it ([`Lpm::trade_rules`]): held by a table
    /// whose own lookup arrays are unused.
    rules: Option<T>,
    /// Why the shared rules may be ahead of the published version: no batch is taken after it.
    stopped: Option<String>,
}

/// Reads the current FIB. Cheap to clone, one per forwarding core.
#[derive(Debug)]
pub struct FibReader<K, T> {
    shared: Arc<ArcSwap<Fib<K, T>>>,
}

// ===== impl Fib =====

impl<K: Key, T: Lpm<K>> Fib<K, T> {
    /// Version 0 of a FIB.
    pub fn new(lpm: T, groups: Vec<Vec<Gateway<K>>>) -> Self {
        Fib {
            version: 0,
            len: lpm.len(),
            lpm,
            groups,
        }
    }

    /// Publishes this FIB as version 0.
    pub fn publish(mut self) -> (FibWriter<K, T>, FibReader<K, T>)
    where
        T: Default,
    {
        let mut rules = T::default();
        let traded = self.lpm.trade_rules(&mut rules);
        let shared = Arc::new(ArcSwap::from_pointee(self));
        let reader = FibReader {
            shared: Arc::clone(&shared),
        };
        let writer = FibWriter {
            shared,
            spare: None,
            behind: Vec::new(),
            rules: traded.then_some(rules),
            stopped: None,
        };
        (writer, reader)
    }

    /// How many batches were applied since version 0.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the FIB holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of what lookups read.
    pub fn lookup_bytes(&self) -> usize {
        self.lpm.lookup_bytes()
    }

    /// The next hop of `key`.
    #[inline]
    pub fn lookup(&self, key: K) -> NextHop {
        self.lpm.lookup(key)
    }

    /// The next hops of a burst of keys.
    #[inline]
    pub fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        self.lpm.lookup_batch(keys, out);
    }

    /// The path of next hop `nh` a flow with hash `flow_hash` takes: all packets of a flow take
    /// the same path, flows spread evenly over the group.
    #[inline]
    pub fn path(&self, nh: NextHop, flow_hash: u32) -> Option<&Gateway<K>> {
        let group = self.groups.get(usize::from(nh))?;
        // Multiply-shift maps the hash onto 0..len without a division.
        let i = (u64::from(flow_hash) * group.len() as u64) >> 32;
        group.get(i as usize)
    }

    fn apply(&mut self, updates: &[Update<K>]) -> Result<(), Error> {
        for chunk in updates.chunks(WARM) {
            let mut prefixes = [Prefix::default(); WARM];
            let mut n = 0;
            for u in chunk {
                if let Update::Route(p, _) | Update::Withdraw(p) = u {
                    prefixes[n] = *p;
                    n += 1;
                }
            }
            self.lpm.warm(&prefixes[..n]);
            self.apply_each(chunk)?;
        }
        Ok(())
    }

    fn apply_each(&mut self, updates: &[Update<K>]) -> Result<(), Error> {
        for u in updates {
            match u {
                Update::Route(p, nh) => {
                    if self.lpm.insert(*p, *nh)?.is_none() {
                        self.len += 1;
                    }
                }
                Update::Withdraw(p) => {
                    if self.lpm.remove(*p)?.is_some() {
                        self.len -= 1;
                    }
                }
                Update::Group(id, paths) => self.set_group(*id, paths),
            }
        }
        Ok(())
    }

    fn set_group(&mut self, id: NextHop, paths: &[Gateway<K>]) {
        let id = usize::from(id);
        if self.groups.len() <= id {
            self.groups.resize(id + 1, Vec::new());
        }
        let group = &mut self.groups[id];
        group.clear();
        group.extend_from_slice(paths);
    }

    /// Makes this FIB equal to `newer`, which is this one with `updates` applied, by copying
    /// what they wrote or, if the table cannot and `replay` allows, by applying them. False
    /// when it could not: the caller copies `newer` instead.
    fn catch_up(&mut self, newer: &Self, updates: &[Update<K>], replay: bool) -> bool {
        if !self.lpm.catch_up(&newer.lpm) {
            return replay && self.apply(updates).is_ok();
        }
        for u in updates {
            if let Update::Group(id, paths) = u {
                self.set_group(*id, paths);
            }
        }
        self.len = newer.len;
        true
    }
}

// ===== impl FibWriter =====

impl<K: Key, T: Lpm<K> + Clone> FibWriter<K, T> {
    /// Applies a batch and publishes the result as the next version, which it returns. Either
    /// the whole batch is published or, on error, nothing.
    ///
    /// A batch with next hop 0 in a route is refused before anything changes. For a table
    /// whose copies share their rules ([`Lpm::trade_rules`]), a batch that fails part-way (a
    /// table out of index space, [`Error::TableFull`]) has changed the shared rules, so the
    /// writer refuses every later batch with [`Error::FibStopped`]; readers keep the last
    /// version.
    pub fn apply(&mut self, batch: Vec<Update<K>>) -> Result<u64, Error> {
        if let Some(why) = &self.stopped {
            return Err(Error::FibStopped(why.clone()));
        }
        for u in &batch {
            if let Update::Route(_, nh) = u {
                check_nh(*nh)?;
            }
        }
        let current = self.shared.load_full();
        let version = current.version + 1;
        let spare = self.spare.take().and_then(|s| Arc::try_unwrap(s).ok());
        // A copy that traded its rules away cannot apply updates again.
        let replay = self.rules.is_none();
        // A reader still holds the spare (or there is none yet, or it could not catch up):
        // start from a copy.
        let mut fib = spare
            .and_then(|mut s| s.catch_up(&current, &self.behind, replay).then_some(s))
            .unwrap_or_else(|| Fib::clone(&current));
        fib.lpm.start_log();
        match &mut self.rules {
            Some(rules) => {
                // Set until the batch is through: a panic part-way (unwinding with the rules
                // inside `fib`) leaves the writer stopped, not without rules.
                self.stopped = Some("interrupted".into());
                fib.lpm.trade_rules(rules);
                let applied = fib.apply(&batch);
                fib.lpm.trade_rules(rules);
                self.stopped = applied.as_ref().err().map(ToString::to_string);
                applied?;
            }
            None => fib.apply(&batch)?,
        }
        fib.version = version;
        self.spare = Some(self.shared.swap(Arc::new(fib)));
        self.behind = batch;
        Ok(version)
    }

    /// A reader of this writer's FIB.
    pub fn reader(&self) -> FibReader<K, T> {
        FibReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

// ===== impl FibReader =====

impl<K, T> FibReader<K, T> {
    /// The current FIB. Hold it for a burst, not longer: a held version cannot be recycled.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Fib<K, T>>> {
        self.shared.load()
    }
}

impl<K, T> Clone for FibReader<K, T> {
    fn clone(&self) -> Self {
        FibReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Poptrie4, Poptrie6, Reference};

    fn p(s: &str) -> Prefix<u32> {
        s.parse().unwrap()
    }

    #[test]
    fn versions_replay_and_copy() {
        let (mut w, r) = Fib::new(Poptrie4::default(), Vec::new()).publish();
        assert_eq!(w.apply(vec![Update::Route(p("10.0.0.0/8"), 1)]).unwrap(), 1);
        let held = r.load();
        // The spare (version 0) is free: replayed in place. Version 1 is held: copied next time.
        w.apply(vec![Update::Route(p("10.1.0.0/16"), 2)]).unwrap();
        w.apply(vec![Update::Withdraw(p("10.0.0.0/8"))]).unwrap();
        assert_eq!(held.version(), 1);
        assert_eq!(held.lookup(0x0a02_0000), 1);
        let now = r.load();
        assert_eq!(now.version(), 3);
        assert_eq!((now.lookup(0x0a02_0000), now.lookup(0x0a01_0000)), (0, 2));
        drop((held, now));
        w.apply(vec![Update::Route(p("0.0.0.0/0"), 3)]).unwrap();
        let now = r.load();
        assert_eq!((now.lookup(0x0a02_0000), now.lookup(0x0a01_0000)), (3, 2));
    }

    #[test]
    fn failed_batch_publishes_nothing() {
        let (mut w, r) = Fib::new(Poptrie4::default(), Vec::new()).publish();
        let bad = vec![
            Update::Route(p("10.0.0.0/8"), 1),
            Update::Route(p("11.0.0.0/8"), 0),
        ];
        assert!(w.apply(bad).is_err());
        assert_eq!((r.load().version(), r.load().lookup(0x0a00_0000)), (0, 0));
    }

    /// One update as generated: a prefix of `len` bits in 10.0.0.0/8 (IPv4) or 2001:db8::/32
    /// (IPv6), whose address bits below the top 8 (or 32) are `bits` spread over the next 24;
    /// next hop 0 withdraws it.
    type Change = (u32, u8, NextHop);

    fn prefix<K: Key>(to_key: fn(u32) -> K, top: u8, (bits, len, _): Change) -> Prefix<K> {
        let len = top + len % (K::BITS - top + 1);
        Prefix::new(to_key(bits).and(K::mask(len)), len).unwrap()
    }

    /// Applies `batches` through a writer while a reader holds some versions for two batches
    /// (so that the spare is sometimes held and the writer copies the current version instead),
    /// and checks every published version against the reference on the first, last and a
    /// middle address of every prefix. The routes of the first batch are the table built
    /// whole (`Lpm::from_routes`, whose arenas hold exactly-sized blocks) before publishing.
    fn published_versions_match_the_reference<K, T>(
        to_key: fn(u32) -> K,
        top: u8,
        batches: &[Vec<Change>],
        hold: &[bool],
    ) where
        K: Key + std::ops::Not<Output = K>,
        T: Lpm<K> + Clone + Default,
    {
        // The prefix of `c`, its first, last and a middle address noted in `keys`.
        let probe = |keys: &mut Vec<K>, c: Change| {
            let p = prefix(to_key, top, c);
            let last = p.addr().or(!K::mask(p.len()));
            keys.extend([p.addr(), last, to_key(c.0.rotate_left(7)).or(p.addr())]);
            p
        };
        let mut keys = Vec::new();
        let (first, batches) = batches.split_first().unwrap();
        let built: Vec<_> = first
            .iter()
            .filter(|c| c.2 != 0)
            .map(|&c| (probe(&mut keys, c), c.2))
            .collect();
        let mut reference = Reference::<K>::from_routes(&built).unwrap();
        let (mut w, r) = Fib::new(T::from_routes(&built).unwrap(), Vec::new()).publish();
        for &k in &keys {
            assert_eq!(r.load().lookup(k), reference.lookup(k), "{k:?} as built");
        }
        let mut held = std::collections::VecDeque::new();
        for (batch, &hold) in batches.iter().zip(hold) {
            let mut updates = Vec::new();
            for &c in batch {
                let p = probe(&mut keys, c);
                updates.push(match c.2 {
                    0 => {
                        reference.remove(p).unwrap();
                        Update::Withdraw(p)
                    }
                    nh => {
                        reference.insert(p, nh).unwrap();
                        Update::Route(p, nh)
                    }
                });
            }
            let version = w.apply(updates).unwrap();
            let fib = r.load();
            assert_eq!((fib.version(), fib.len()), (version, reference.len()));
            for &k in &keys {
                assert_eq!(
                    fib.lookup(k),
                    reference.lookup(k),
                    "{k:?} in version {version}"
                );
            }
            // The version published now is the spare after the next batch, and caught up or
            // copied at the one after.
            held.push_back(hold.then_some(fib));
            if held.len() > 2 {
                held.pop_front();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn published_ipv4_versions_match_the_reference(
            batches in prop::collection::vec(
                prop::collection::vec((any::<u32>(), any::<u8>(), 0u16..4), 1..40), 1..24),
            hold in prop::collection::vec(any::<bool>(), 24),
        ) {
            let to_key = |bits: u32| 0x0a00_0000 | bits >> 8;
            published_versions_match_the_reference::<u32, Poptrie4>(to_key, 8, &batches, &hold);
        }

        #[test]
        fn published_ipv6_versions_match_the_reference(
            batches in prop::collection::vec(
                prop::collection::vec((any::<u32>(), any::<u8>(), 0u16..4), 1..40), 1..24),
            hold in prop::collection::vec(any::<bool>(), 24),
        ) {
            let to_key = |bits: u32| 0x2001_0db8u128 << 96 | u128::from(bits) << 64;
            published_versions_match_the_reference::<u128, Poptrie6>(to_key, 32, &batches, &hold);
        }
    }

    #[test]
    fn paths_spread_flows() {
        let gw = |port| Gateway { port, addr: 0u32 };
        let fib = Fib::<u32, Poptrie4>::new(Poptrie4::default(), vec![vec![], vec![gw(1), gw(2)]]);
        assert_eq!(fib.path(1, 0), Some(&gw(1)));
        assert_eq!(fib.path(1, u32::MAX), Some(&gw(2)));
        assert_eq!(fib.path(0, 7), None);
        assert_eq!(fib.path(9, 7), None);
    }
}
