//! The RIB: every route every source offered, the best one per prefix, and the FIB changes
//! that follow when the best one changes.
//!
//! Best path: lowest administrative distance, then lowest metric, then the source order of
//! [`Source`]. The best route's paths (1 to [`MAX_PATHS`]) form its ECMP group; prefixes with the
//! same group share one next-hop index, created with the first and freed with the last.

use std::collections::{BTreeMap, HashMap};

use crate::fib::{Gateway, Update};
use crate::lpm::{NO_ROUTE, NextHop};
use crate::{Error, Key, Prefix};

/// Most paths in an ECMP group.
pub const MAX_PATHS: usize = 64;

/// Who offered a route. The order breaks ties between equal distance and metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A prefix on one of our own links.
    Connected,
    /// Configured by the operator.
    Static,
    /// Pushed by the cluster's route processor.
    Cluster,
    /// Learnt by OSPFv2.
    Ospf,
    /// Learnt by RIPv2.
    Rip,
}

/// A route offered by one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route<K> {
    /// Who offers it.
    pub source: Source,
    /// Administrative distance: trust in the source, lower wins.
    pub distance: u8,
    /// The source's own cost, lower wins between equal distances.
    pub metric: u32,
    /// Equal-cost paths.
    pub paths: Vec<Gateway<K>>,
}

/// Routes by prefix, the installed best of each, and the next-hop groups in use.
#[derive(Debug)]
pub struct Rib<K> {
    routes: BTreeMap<Prefix<K>, Vec<Route<K>>>,
    installed: HashMap<Prefix<K>, NextHop>,
    groups: HashMap<Vec<Gateway<K>>, (NextHop, usize)>,
    members: Vec<Vec<Gateway<K>>>,
    free_ids: Vec<NextHop>,
}

// ===== impl Source =====

impl Source {
    /// The usual administrative distance of the source.
    pub fn default_distance(self) -> u8 {
        match self {
            Source::Connected => 0,
            Source::Static => 1,
            Source::Cluster => 20,
            Source::Ospf => 110,
            Source::Rip => 120,
        }
    }
}

// ===== impl Route =====

impl<K: Key> Route<K> {
    /// A route with the source's default distance.
    pub fn new(source: Source, metric: u32, paths: Vec<Gateway<K>>) -> Self {
        Route {
            source,
            distance: source.default_distance(),
            metric,
            paths,
        }
    }

    fn rank(&self) -> (u8, u32, Source) {
        (self.distance, self.metric, self.source)
    }
}

// ===== impl Rib =====

impl<K: Key> Default for Rib<K> {
    fn default() -> Self {
        Rib {
            routes: BTreeMap::new(),
            installed: HashMap::new(),
            groups: HashMap::new(),
            // Index 0 is NO_ROUTE.
            members: vec![Vec::new()],
            free_ids: Vec::new(),
        }
    }
}

impl<K: Key> Rib<K> {
    /// Adds `route`, replacing the one its source offered before for `prefix`. Returns the FIB
    /// changes, in the order to apply them.
    pub fn add(&mut self, prefix: Prefix<K>, mut route: Route<K>) -> Result<Vec<Update<K>>, Error> {
        route.paths.sort_unstable();
        route.paths.dedup();
        if route.paths.is_empty() || route.paths.len() > MAX_PATHS {
            return Err(Error::BadGroup(route.paths.len()));
        }
        let offers = self.routes.entry(prefix).or_default();
        offers.retain(|r| r.source != route.source);
        offers.push(route);
        self.reselect(prefix)
    }

    /// Withdraws what `source` offered for `prefix`. Returns the FIB changes.
    pub fn withdraw(&mut self, prefix: Prefix<K>, source: Source) -> Result<Vec<Update<K>>, Error> {
        if let Some(offers) = self.routes.get_mut(&prefix) {
            offers.retain(|r| r.source != source);
            if offers.is_empty() {
                self.routes.remove(&prefix);
            }
        }
        self.reselect(prefix)
    }

    /// The best route for `prefix`.
    pub fn best(&self, prefix: Prefix<K>) -> Option<&Route<K>> {
        self.routes.get(&prefix)?.iter().min_by_key(|r| r.rank())
    }

    /// Everything a FIB built from scratch needs: the installed routes and the groups (index
    /// `i` of the list is next hop `i`).
    pub fn snapshot(&self) -> (Vec<(Prefix<K>, NextHop)>, Vec<Vec<Gateway<K>>>) {
        let mut routes: Vec<_> = self.installed.iter().map(|(p, nh)| (*p, *nh)).collect();
        routes.sort_unstable();
        (routes, self.members.clone())
    }

    /// Number of prefixes with a route.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no prefix has a route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    fn reselect(&mut self, prefix: Prefix<K>) -> Result<Vec<Update<K>>, Error> {
        let mut out = Vec::new();
        let old = self.installed.get(&prefix).copied();
        let new = match self.best(prefix).map(|r| r.paths.clone()) {
            Some(paths) => Some(self.acquire(paths, &mut out)?),
            None => None,
        };
        match new {
            Some(nh) if old != Some(nh) => {
                out.push(Update::Route(prefix, nh));
                self.installed.insert(prefix, nh);
            }
            Some(_) => {}
            None if old.is_some() => {
                out.push(Update::Withdraw(prefix));
                self.installed.remove(&prefix);
            }
            None => {}
        }
        // Release after the route moved away, so that a freed index is referenced by no route.
        if let Some(nh) = new {
            self.release(nh);
        }
        if let Some(nh) = old {
            self.release(nh);
        }
        Ok(out)
    }

    /// Takes a reference on the group of `paths`, creating it (and its update) if new. The
    /// caller releases the reference it no longer needs.
    fn acquire(
        &mut self,
        paths: Vec<Gateway<K>>,
        out: &mut Vec<Update<K>>,
    ) -> Result<NextHop, Error> {
        if let Some((nh, refs)) = self.groups.get_mut(&paths) {
            // One reference for the installed route, one held until `reselect` releases it.
            *refs += 2;
            return Ok(*nh);
        }
        let nh = match self.free_ids.pop() {
            Some(nh) => nh,
            None => NextHop::try_from(self.members.len())
                .map_err(|_| Error::TableFull("next-hop groups"))?,
        };
        let slot = usize::from(nh);
        if slot == self.members.len() {
            self.members.push(Vec::new());
        }
        self.members[slot].clone_from(&paths);
        out.push(Update::Group(nh, paths.clone()));
        self.groups.insert(paths, (nh, 2));
        Ok(nh)
    }

    fn release(&mut self, nh: NextHop) {
        let Some(paths) = self.members.get(usize::from(nh)).filter(|_| nh != NO_ROUTE) else {
            return;
        };
        if let Some((_, refs)) = self.groups.get_mut(paths) {
            *refs -= 1;
            if *refs == 0 {
                self.groups.remove(paths);
                self.free_ids.push(nh);
            }
        }
    }
}
