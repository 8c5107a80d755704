//! The FIB and its lock-free publication.
//!
//! Forwarding cores read a [`Fib`] snapshot through a [`FibReader`]: one atomic load per burst
//! (`arc-swap`), no lock, and the snapshot stays whole for as long as they hold it. The control
//! plane changes it through the one [`FibWriter`], batch by batch:
//!
//! ```text
//!   batch k ──> spare (version k-1, behind by batch k-1)
//!                 │  readers gone?  yes: replay batch k-1, apply batch k in place
//!                 │                 no:  copy the current version, apply batch k
//!                 v
//!               swap it in as version k+1; the old current becomes the spare
//! ```
//!
//! The writer never waits: a version still held by a reader is simply not reused, and the last
//! reader to drop it frees it. With readers that reload every burst the spare is free again long
//! before the next batch, so updates cost two incremental applications and no copy.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::lpm::{Lpm, NextHop};

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
}

/// Publishes new FIB versions.
#[derive(Debug)]
pub struct FibWriter<K, T> {
    shared: Arc<ArcSwap<Fib<K, T>>>,
    spare: Option<Arc<Fib<K, T>>>,
    behind: Vec<Update<K>>,
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
            lpm,
            groups,
        }
    }

    /// Publishes this FIB as version 0.
    pub fn publish(self) -> (FibWriter<K, T>, FibReader<K, T>) {
        let shared = Arc::new(ArcSwap::from_pointee(self));
        let reader = FibReader {
            shared: Arc::clone(&shared),
        };
        let writer = FibWriter {
            shared,
            spare: None,
            behind: Vec::new(),
        };
        (writer, reader)
    }

    /// How many batches were applied since version 0.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The LPM table.
    pub fn lpm(&self) -> &T {
        &self.lpm
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
                    self.lpm.insert(*p, *nh)?;
                }
                Update::Withdraw(p) => {
                    self.lpm.remove(*p)?;
                }
                Update::Group(id, paths) => {
                    let id = usize::from(*id);
                    if self.groups.len() <= id {
                        self.groups.resize(id + 1, Vec::new());
                    }
                    self.groups[id].clone_from(paths);
                }
            }
        }
        Ok(())
    }
}

// ===== impl FibWriter =====

impl<K: Key, T: Lpm<K> + Clone> FibWriter<K, T> {
    /// Applies a batch and publishes the result as the next version, which it returns. Either
    /// the whole batch is published or, on error, nothing.
    pub fn apply(&mut self, batch: Vec<Update<K>>) -> Result<u64, Error> {
        let version = self.shared.load().version + 1;
        let mut fib = match self.spare.take().map(Arc::try_unwrap) {
            Some(Ok(mut spare)) => {
                spare.apply(&self.behind)?;
                spare
            }
            // A reader still holds the spare (or there is none yet): start from a copy.
            _ => Fib::clone(&self.shared.load()),
        };
        fib.apply(&batch)?;
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
    use super::*;
    use crate::Poptrie4;

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
