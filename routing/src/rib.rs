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

/// Installed routes: prefix and next hop.
pub type Routes<K> = Vec<(Prefix<K>, NextHop)>;

/// Next-hop groups: entry `i` holds the paths of next hop `i`.
pub type Groups<K> = Vec<Vec<Gateway<K>>>;

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

/// Routes by prefix with the installed best of each, and the next-hop groups in use.
#[derive(Debug)]
pub struct Rib<K> {
    routes: BTreeMap<Prefix<K>, Offers<K>>,
    groups: NextHops<K>,
}

/// What the sources offer for one prefix, and the next hop installed for it ([`NO_ROUTE`]: none
/// yet).
#[derive(Debug)]
struct Offers<K> {
    routes: Vec<Route<K>>,
    installed: NextHop,
}

/// The ECMP groups in use, each with its next-hop index and a reference count.
#[derive(Debug)]
struct NextHops<K> {
    groups: HashMap<Vec<Gateway<K>>, (NextHop, usize)>,
    members: Vec<Vec<Gateway<K>>>,
    free_ids: Vec<NextHop>,
}

// ===== impl Source =====

impl Source {
    /// The name in `brick show routes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Connected => "connected",
            Source::Static => "static",
            Source::Cluster => "cluster",
            Source::Ospf => "ospf",
            Source::Rip => "rip",
        }
    }

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
            groups: NextHops {
                groups: HashMap::new(),
                // Index 0 is NO_ROUTE.
                members: vec![Vec::new()],
                free_ids: Vec::new(),
            },
        }
    }
}

impl<K: Key> Offers<K> {
    fn best(&self) -> Option<&Route<K>> {
        self.routes.iter().min_by_key(|r| r.rank())
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
        let offers = self.routes.entry(prefix).or_insert_with(|| Offers {
            routes: Vec::new(),
            installed: NO_ROUTE,
        });
        let previous = offers
            .routes
            .iter()
            .position(|r| r.source == route.source)
            .map(|i| (i, offers.routes.remove(i)));
        offers.routes.push(route);
        let result = self.groups.reselect(prefix, offers);
        if result.is_err() {
            // A route the FIB cannot take (no next-hop id left) changes nothing: put back what
            // the source offered before. `reselect` fails before it changes any state.
            offers.routes.pop();
            if let Some((i, old)) = previous {
                offers.routes.insert(i, old);
            }
            if offers.routes.is_empty() {
                self.routes.remove(&prefix);
            }
        }
        result
    }

    /// Withdraws what `source` offered for `prefix`. Returns the FIB changes.
    pub fn withdraw(&mut self, prefix: Prefix<K>, source: Source) -> Result<Vec<Update<K>>, Error> {
        let Some(offers) = self.routes.get_mut(&prefix) else {
            return Ok(Vec::new());
        };
        offers.routes.retain(|r| r.source != source);
        let result = self.groups.reselect(prefix, offers);
        if offers.routes.is_empty() {
            self.routes.remove(&prefix);
        }
        result
    }

    /// The best route for `prefix`.
    pub fn best(&self, prefix: Prefix<K>) -> Option<&Route<K>> {
        self.routes.get(&prefix)?.best()
    }

    /// The best route of every prefix, in prefix order (for `brick show routes`).
    pub fn routes(&self) -> impl Iterator<Item = (Prefix<K>, &Route<K>)> {
        self.routes
            .iter()
            .filter_map(|(p, offers)| Some((*p, offers.best()?)))
    }

    /// Everything a FIB built from scratch needs: the installed routes, in prefix order, and
    /// the groups (index `i` of the list is next hop `i`).
    pub fn snapshot(&self) -> (Routes<K>, Groups<K>) {
        let routes = self
            .routes
            .iter()
            .filter(|(_, o)| o.installed != NO_ROUTE)
            .map(|(p, o)| (*p, o.installed))
            .collect();
        (routes, self.groups.members.clone())
    }

    /// Number of prefixes with a route.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no prefix has a route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

// ===== impl NextHops =====

impl<K: Key> NextHops<K> {
    /// Installs the best of `offers` for `prefix` (or withdraws it if there is none).
    fn reselect(
        &mut self,
        prefix: Prefix<K>,
        offers: &mut Offers<K>,
    ) -> Result<Vec<Update<K>>, Error> {
        let mut out = Vec::new();
        let old = Some(offers.installed).filter(|&nh| nh != NO_ROUTE);
        let new = match offers.best() {
            Some(best) => Some(self.acquire(&best.paths, &mut out)?),
            None => None,
        };
        match new {
            Some(nh) if old != Some(nh) => {
                out.push(Update::Route(prefix, nh));
                offers.installed = nh;
            }
            Some(_) => {}
            None if old.is_some() => {
                out.push(Update::Withdraw(prefix));
                offers.installed = NO_ROUTE;
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
        paths: &[Gateway<K>],
        out: &mut Vec<Update<K>>,
    ) -> Result<NextHop, Error> {
        if let Some((nh, refs)) = self.groups.get_mut(paths) {
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
        self.members[slot].clear();
        self.members[slot].extend_from_slice(paths);
        out.push(Update::Group(nh, paths.to_vec()));
        self.groups.insert(paths.to_vec(), (nh, 2));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fib, Key, Lpm, Poptrie4, Reference};

    fn p(s: &str) -> Prefix<u32> {
        s.parse().unwrap()
    }

    fn gw(port: u16) -> Gateway<u32> {
        Gateway {
            port,
            addr: 0xc000_0200 | u32::from(port),
        }
    }

    /// Input: routes with distinct gateways until the next-hop ids run out, then one more, and a
    /// replacement of an existing route by a new group. Output: both refused with `TableFull`,
    /// and the RIB still answers with what it had.
    #[test]
    fn a_route_the_fib_cannot_take_changes_nothing() {
        let mut rib = Rib::default();
        let mut n = 0u32;
        let route = |n: u32| Route::new(Source::Static, 0, vec![Gateway { port: 1, addr: n }]);
        let prefix = |n: u32| Prefix::new(n << 8, 24).unwrap();
        while rib.add(prefix(n), route(n)).is_ok() {
            n += 1;
        }
        let full = n;
        assert_eq!(
            full,
            u32::from(NextHop::MAX),
            "every id but NO_ROUTE was handed out"
        );
        assert!(
            rib.best(prefix(full)).is_none(),
            "the refused prefix has no route"
        );
        assert!(matches!(
            rib.add(prefix(7), route(full + 1)),
            Err(Error::TableFull(_))
        ));
        assert_eq!(
            rib.best(prefix(7)).unwrap().paths,
            route(7).paths,
            "the old route stands"
        );
        assert_eq!(rib.len(), full as usize);
    }

    #[test]
    fn distance_then_metric_then_source() {
        let mut rib = Rib::default();
        let net = p("10.0.0.0/8");
        let rip = rib
            .add(net, Route::new(Source::Rip, 1, vec![gw(1)]))
            .unwrap();
        assert_eq!(rip, [Update::Group(1, vec![gw(1)]), Update::Route(net, 1)]);
        // OSPF's distance (110) beats RIP's (120) whatever the metrics.
        let ospf = rib
            .add(net, Route::new(Source::Ospf, 500, vec![gw(2)]))
            .unwrap();
        assert_eq!(ospf, [Update::Group(2, vec![gw(2)]), Update::Route(net, 2)]);
        // A worse OSPF metric from the same source replaces the route; still better than RIP.
        assert_eq!(
            rib.add(net, Route::new(Source::Ospf, 900, vec![gw(2)]))
                .unwrap(),
            []
        );
        // Withdrawing OSPF falls back to RIP. Only installed routes hold groups, so RIP's group
        // was freed when OSPF won, and comes back (in the free index 1) before the route.
        assert_eq!(
            rib.withdraw(net, Source::Ospf).unwrap(),
            [Update::Group(1, vec![gw(1)]), Update::Route(net, 1)]
        );
        assert_eq!(
            rib.withdraw(net, Source::Rip).unwrap(),
            [Update::Withdraw(net)]
        );
        assert!(rib.is_empty());
        assert_eq!(rib.withdraw(net, Source::Rip).unwrap(), []);
        // Equal distance and metric: the source order decides.
        let mut a = Route::new(Source::Rip, 5, vec![gw(3)]);
        a.distance = 110;
        rib.add(net, a).unwrap();
        rib.add(net, Route::new(Source::Ospf, 5, vec![gw(4)]))
            .unwrap();
        assert_eq!(rib.best(net).unwrap().source, Source::Ospf);
    }

    #[test]
    fn ecmp_groups_are_shared_and_freed() {
        let mut rib = Rib::default();
        let paths = vec![gw(2), gw(1), gw(2)];
        let a = rib
            .add(
                p("10.0.0.0/8"),
                Route::new(Source::Static, 0, paths.clone()),
            )
            .unwrap();
        assert_eq!(a[0], Update::Group(1, vec![gw(1), gw(2)]));
        let b = rib
            .add(p("11.0.0.0/8"), Route::new(Source::Static, 0, paths))
            .unwrap();
        assert_eq!(b, [Update::Route(p("11.0.0.0/8"), 1)]);
        rib.withdraw(p("10.0.0.0/8"), Source::Static).unwrap();
        rib.withdraw(p("11.0.0.0/8"), Source::Static).unwrap();
        // Group 1 is free again: the next new group reuses it.
        let c = rib
            .add(p("12.0.0.0/8"), Route::new(Source::Static, 0, vec![gw(9)]))
            .unwrap();
        assert_eq!(c[0], Update::Group(1, vec![gw(9)]));
        let too_many: Vec<_> = (0..=MAX_PATHS as u16).map(gw).collect();
        assert!(
            rib.add(p("13.0.0.0/8"), Route::new(Source::Static, 0, too_many))
                .is_err()
        );
        assert!(
            rib.add(p("13.0.0.0/8"), Route::new(Source::Static, 0, vec![]))
                .is_err()
        );
    }

    #[test]
    fn changes_keep_a_published_fib_equal_to_a_fresh_build() {
        let mut rib = Rib::default();
        let (mut writer, reader) = Fib::new(Poptrie4::default(), Vec::new()).publish();
        let mut x = 0x1234_5678u32;
        let sources = [Source::Connected, Source::Static, Source::Ospf, Source::Rip];
        for step in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = 8 + (x % 17) as u8;
            let net = Prefix::new(0x0a00_0000 | (x & 0x00ff_ff00) & u32::mask(len), len).unwrap();
            let source = sources[(x >> 28) as usize % 4];
            let changes = if step % 3 == 0 {
                rib.withdraw(net, source).unwrap()
            } else {
                let paths = (0..1 + x % 3)
                    .map(|i| gw((x >> 8) as u16 % 4 + i as u16))
                    .collect();
                rib.add(net, Route::new(source, x >> 29, paths)).unwrap()
            };
            writer.apply(changes).unwrap();
        }
        let (routes, groups) = rib.snapshot();
        let fresh = Reference::from_routes(&routes).unwrap();
        let fib = reader.load();
        for k in (0..1 << 24).step_by(97).map(|i| 0x0a00_0000 | i) {
            let nh = fib.lookup(k);
            assert_eq!(nh, fresh.lookup(k), "{k:x}");
            let group = &groups[usize::from(nh)];
            for hash in [0, k, u32::MAX] {
                let path = fib.path(nh, hash);
                assert_eq!(path.is_some(), !group.is_empty(), "{k:x}");
                assert!(path.is_none_or(|g| group.contains(g)), "{k:x}");
            }
        }
        assert_eq!(fib.len(), routes.len());
    }
}
