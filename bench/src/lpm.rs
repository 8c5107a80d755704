//! LPM lookups on a real table: our Poptrie beside our plain DIR-24-8 (the in-run yardstick) and
//! the best Rust crates for the job, `prefix-trie` and `ip_network_table`, on the same keys, one
//! core, in bursts of 32. Also build time, lookup-structure size, and update rates.
//!
//! The tables take turns, so that a noisy minute costs each the same; each turn is an untimed
//! pass over the keys, then a timed one. The untimed pass brings the table back into the caches
//! the other tables' passes took it out of: a forwarding core looks up in one table all the
//! time, and DPDK's `test_lpm_perf`, where the reference rates come from, looks up in
//! one table in a loop. Without it, a table that fits in cache paid a cold start every pass and
//! a table that lives in memory hardly did (docs/benchmarks.md).
//!
//! Output: a text line per table, then one JSON line per table, ours (Poptrie) last.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use brick_routing::{
    Dir24, Error, Fib, Key, Lpm, NextHop, Poptrie4, Poptrie6, Prefix, Update, loader,
};
use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use prefix_trie::PrefixMap;
use serde::Serialize;

/// Keys per run: 4 MiB of IPv4 keys, cycled.
const KEYS: usize = 1 << 20;
/// Burst size, as on the data path.
const BURST: usize = 32;
/// Updates timed per table.
const UPDATES: usize = 1_000_000;
/// Updates per published FIB version.
const FIB_BATCH: usize = 1024;
/// Updates per batch for `batched_updates_per_s`.
const UPDATE_BATCH: usize = 32;

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Which addresses to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Keys {
    /// Uniformly random addresses (IPv6: uniform within 2000::/3, where the routes are).
    Random,
    /// A random address inside a randomly chosen prefix of the table.
    Inside,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct LpmBench {
    /// Route file (`prefix/len next-hop`, gzip accepted).
    pub table: PathBuf,
    /// Address family of the file.
    pub family: Family,
    /// Key distribution.
    pub keys: Keys,
    /// Seconds of lookups per table.
    pub seconds: f64,
}

/// One table's figures.
#[derive(Clone, Debug, Serialize)]
pub struct LpmReport {
    /// Table: "poptrie", "dir24-8", "prefix-trie", "ip_network_table".
    #[serde(rename = "impl")]
    pub imp: &'static str,
    /// Prefixes in the table.
    pub prefixes: usize,
    /// Key distribution.
    pub keys: Keys,
    /// Million lookups per second on one core.
    pub mlookups_per_s: f64,
    /// Milliseconds to build the table from the loaded routes.
    pub build_ms: f64,
    /// Bytes of the lookup structure as built (`null` where the crate does not tell).
    pub bytes: Option<usize>,
    /// Incremental updates per second on the full table (change, withdraw, re-add), one call
    /// per update.
    pub updates_per_s: f64,
    /// The same updates in batches of 32, each batch announced to the table first (our
    /// tables' `Lpm::warm`, which `FibWriter` uses too; the crates have no such call and take
    /// them one by one).
    pub batched_updates_per_s: f64,
    /// Updates per second through FIB publication (batches of 1024, each a new version).
    pub published_updates_per_s: Option<f64>,
    /// Million lookups per second on the same keys after the table took both rounds of
    /// updates (2M), measured as `mlookups_per_s` is.
    pub mlookups_per_s_after_updates: f64,
    /// Bytes of the lookup structure after those updates.
    pub bytes_after_updates: Option<usize>,
    /// Lookup rate over the DIR-24-8 rate measured in the same run.
    pub vs_dir24: Option<f64>,
    /// Lookup rate over the prefix-trie rate measured in the same run.
    pub vs_prefix_trie: Option<f64>,
}

// ===== impl Family, Keys =====

impl FromStr for Family {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v4" => Ok(Family::V4),
            "v6" => Ok(Family::V6),
            _ => Err(format!("family {s:?}: expected v4 or v6")),
        }
    }
}

impl FromStr for Keys {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Keys::Random),
            "inside" => Ok(Keys::Inside),
            _ => Err(format!("keys {s:?}: expected random or inside")),
        }
    }
}

/// Runs the benchmark. Reports come in print order, ours last.
pub fn run(b: &LpmBench) -> Result<Vec<LpmReport>, crate::Error> {
    match b.family {
        Family::V4 => {
            let routes = loader::load::<u32>(&b.table)?.routes;
            compare(
                &routes,
                b,
                vec![
                    build::<u32, Ours<Dir24>>("dir24-8", &routes)?,
                    build::<u32, PrefixMap<(u32, u8), NextHop>>("prefix-trie", &routes)?,
                    build::<u32, IpNetworkTable<NextHop>>("ip_network_table", &routes)?,
                    build::<u32, Ours<Poptrie4>>("poptrie", &routes)?,
                ],
            )
        }
        Family::V6 => {
            let routes = loader::load::<u128>(&b.table)?.routes;
            compare(
                &routes,
                b,
                vec![
                    build::<u128, PrefixMap<(u128, u8), NextHop>>("prefix-trie", &routes)?,
                    build::<u128, IpNetworkTable<NextHop>>("ip_network_table", &routes)?,
                    build::<u128, Ours<Poptrie6>>("poptrie", &routes)?,
                ],
            )
        }
    }
}

/// A table built and waiting to be measured.
struct Built<K> {
    name: &'static str,
    table: Box<dyn Contender<K>>,
    build_ms: f64,
    publish: Option<PublishRate<K>>,
}

/// Measures updates per second through FIB publication for one table type.
type PublishRate<K> = fn(&[(Prefix<K>, NextHop)]) -> Result<f64, Error>;

fn build<K: BenchKey, T: Contender<K> + Build<K> + 'static>(
    name: &'static str,
    routes: &[(Prefix<K>, NextHop)],
) -> Result<Built<K>, Error> {
    let start = Instant::now();
    let table = T::build(routes)?;
    Ok(Built {
        name,
        build_ms: start.elapsed().as_secs_f64() * 1e3,
        table: Box::new(table),
        publish: T::PUBLISH,
    })
}

/// Times every table on the same keys, as built and again after the updates. The machine is
/// shared: the tables take turns ([`lookup_rounds`]) and each keeps its best pass, so a noisy
/// moment hurts one pass, not one table.
fn compare<K: BenchKey>(
    routes: &[(Prefix<K>, NextHop)],
    b: &LpmBench,
    mut tables: Vec<Built<K>>,
) -> Result<Vec<LpmReport>, crate::Error> {
    let keys = make_keys(routes, b.keys);
    let answers = agree(&tables, &keys, "as built")?;
    let (best, passes) = lookup_rounds(&tables, &keys, b.seconds);
    let bytes: Vec<_> = tables.iter().map(|t| t.table.bytes()).collect();
    let updates: Vec<_> = tables
        .iter_mut()
        .map(|t| {
            let one = time_updates(&mut *t.table, routes, false);
            (one, time_updates(&mut *t.table, routes, true))
        })
        .collect();
    // Every table took the same updates: they must still agree, and a live router looks up in
    // a table that has taken updates, whose blocks have moved.
    agree(&tables, &keys, "after the updates")?;
    let (after, _) = lookup_rounds(&tables, &keys, b.seconds);
    let mut reports = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let (mlookups_per_s, bytes) = (best[i], bytes[i]);
        let (updates_per_s, batched_updates_per_s) = updates[i];
        let published_updates_per_s = t.publish.map(|f| f(routes)).transpose()?;
        println!(
            "{:>16}: {mlookups_per_s:7.1} M lookups/s ({:?} keys, best of {passes} passes; {:.1} after the updates), build {:7.1} ms, {}, {:.2} M updates/s ({:.2} M batched){}",
            t.name,
            b.keys,
            after[i],
            t.build_ms,
            bytes.map_or("size unknown".into(), |b| format!(
                "{:.2} MiB",
                b as f64 / (1 << 20) as f64
            )),
            updates_per_s / 1e6,
            batched_updates_per_s / 1e6,
            published_updates_per_s.map_or(String::new(), |u| format!(
                ", {:.2} M published updates/s",
                u / 1e6
            )),
        );
        reports.push(LpmReport {
            imp: t.name,
            prefixes: routes.len(),
            keys: b.keys,
            mlookups_per_s,
            build_ms: t.build_ms,
            bytes,
            updates_per_s,
            batched_updates_per_s,
            published_updates_per_s,
            mlookups_per_s_after_updates: after[i],
            bytes_after_updates: t.table.bytes(),
            vs_dir24: None,
            vs_prefix_trie: None,
        });
    }
    println!("answers of every table on these keys: {answers:016x}");
    ratios(&mut reports);
    Ok(reports)
}

/// The tables' common fingerprint of the answers on `keys`, or an error naming them when they
/// disagree: a table that answers wrongly has no lookup rate worth printing.
fn agree<K: BenchKey>(tables: &[Built<K>], keys: &[K], when: &str) -> Result<u64, crate::Error> {
    let answers: Vec<u64> = tables
        .iter()
        .map(|t| fingerprint(&*t.table, keys))
        .collect();
    if answers.iter().any(|&a| a != answers[0]) {
        let names: Vec<_> = tables.iter().map(|t| t.name).collect();
        return Err(crate::Error::Usage(format!(
            "the tables answer differently on the same keys {when} ({names:?}: {answers:016x?}): a lookup is wrong"
        )));
    }
    Ok(answers[0])
}

/// Rounds in which every table takes a turn, an untimed pass then a timed one (see the module
/// doc), until `seconds` per table are used up (at least three): each table's best rate, and
/// the number of rounds.
fn lookup_rounds<K: BenchKey>(tables: &[Built<K>], keys: &[K], seconds: f64) -> (Vec<f64>, u32) {
    let mut best = vec![0f64; tables.len()];
    let mut passes = 0;
    let start = Instant::now();
    while passes < 3 || start.elapsed().as_secs_f64() < seconds * tables.len() as f64 {
        for (t, best) in tables.iter().zip(best.iter_mut()) {
            lookup_pass(&*t.table, keys);
            *best = best.max(lookup_pass(&*t.table, keys));
        }
        passes += 1;
    }
    (best, passes)
}

/// One pass over the keys in bursts; million lookups per second.
fn lookup_pass<K: BenchKey>(table: &dyn Contender<K>, keys: &[K]) -> f64 {
    let mut out = [0; BURST];
    let mut sum = 0u64;
    let start = Instant::now();
    for burst in keys.chunks_exact(BURST) {
        table.lookup_batch(std::hint::black_box(burst), &mut out);
        sum = sum.wrapping_add(out.iter().map(|&nh| u64::from(nh)).sum::<u64>());
    }
    std::hint::black_box(sum);
    (keys.len() / BURST * BURST) as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn ratios(reports: &mut [LpmReport]) {
    let rate = |name| {
        reports
            .iter()
            .find(|r| r.imp == name)
            .map(|r| r.mlookups_per_s)
    };
    let (dir24, trie) = (rate("dir24-8"), rate("prefix-trie"));
    for r in reports.iter_mut() {
        r.vs_dir24 = dir24.map(|d| r.mlookups_per_s / d);
        r.vs_prefix_trie = trie.map(|t| r.mlookups_per_s / t);
    }
}

/// A hash of every answer, so that a table answering differently stands out.
fn fingerprint<K: BenchKey>(table: &dyn Contender<K>, keys: &[K]) -> u64 {
    let mut out = [0; BURST];
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for burst in keys.chunks_exact(BURST) {
        table.lookup_batch(burst, &mut out);
        for &nh in &out {
            h = (h ^ u64::from(nh)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// Changes, withdraws and re-adds routes of the full table, a third each.
fn update_plan<K: Key>(routes: &[(Prefix<K>, NextHop)]) -> Vec<(Prefix<K>, Option<NextHop>)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut withdrawn = Vec::new();
    (0..UPDATES)
        .map(|i| match (i % 3, withdrawn.pop()) {
            (2, Some(p)) => (p, Some(1)),
            (1, w) => {
                withdrawn.extend(w);
                let (p, _) = routes[rng.below(routes.len())];
                withdrawn.push(p);
                (p, None)
            }
            (_, w) => {
                withdrawn.extend(w);
                let (p, nh) = routes[rng.below(routes.len())];
                (p, Some(nh % 250 + 2))
            }
        })
        .collect()
}

/// Applies the update plan, each batch of [`UPDATE_BATCH`] announced to the table first when
/// `announced` (the plan leaves the table's prefixes as they were, so it can run again).
fn time_updates<K: BenchKey>(
    table: &mut dyn Contender<K>,
    routes: &[(Prefix<K>, NextHop)],
    announced: bool,
) -> f64 {
    let plan = update_plan(routes);
    let mut prefixes = [Prefix::default(); UPDATE_BATCH];
    let start = Instant::now();
    for ops in plan.chunks(UPDATE_BATCH) {
        if announced {
            for (p, &(op, _)) in prefixes.iter_mut().zip(ops) {
                *p = op;
            }
            table.warm(&prefixes[..ops.len()]);
        }
        for &(p, nh) in ops {
            table.update(p, nh);
        }
    }
    plan.len() as f64 / start.elapsed().as_secs_f64()
}

fn make_keys<K: BenchKey>(routes: &[(Prefix<K>, NextHop)], kind: Keys) -> Vec<K> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..KEYS)
        .map(|_| {
            let k = K::random(&mut rng);
            match kind {
                Keys::Random => k,
                Keys::Inside => {
                    let (p, _) = routes[rng.below(routes.len().max(1))];
                    p.addr().or(k.and(K::host_mask(p.len())))
                }
            }
        })
        .collect()
}

/// xorshift64: the same keys every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

// ===== keys and contenders =====

/// What the benchmark needs of an address beyond [`Key`].
trait BenchKey: Key + num_traits::PrimInt + num_traits::Unsigned + num_traits::CheckedShr {
    fn random(rng: &mut Rng) -> Self;
    fn host_mask(len: u8) -> Self;
    fn ip(self) -> IpAddr;
}

impl BenchKey for u32 {
    fn random(rng: &mut Rng) -> Self {
        rng.next() as u32
    }
    fn host_mask(len: u8) -> Self {
        !<u32 as Key>::mask(len)
    }
    fn ip(self) -> IpAddr {
        IpAddr::V4(self.into())
    }
}

impl BenchKey for u128 {
    fn random(rng: &mut Rng) -> Self {
        let k = u128::from(rng.next()) << 64 | u128::from(rng.next());
        (k >> 3) | 0x2000 << 112
    }
    fn host_mask(len: u8) -> Self {
        !<u128 as Key>::mask(len)
    }
    fn ip(self) -> IpAddr {
        IpAddr::V6(self.into())
    }
}

/// A table under test.
trait Contender<K> {
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]);
    fn update(&mut self, p: Prefix<K>, nh: Option<NextHop>);
    /// A batch of updates of `prefixes` follows (see `Lpm::warm`).
    fn warm(&self, prefixes: &[Prefix<K>]) {
        let _ = prefixes;
    }
    fn bytes(&self) -> Option<usize>;
}

/// How to build a table under test.
trait Build<K>: Sized {
    /// Updates per second through FIB publication, for the tables that can be published.
    const PUBLISH: Option<PublishRate<K>> = None;
    fn build(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error>;
}

/// One of our tables.
struct Ours<T>(T);

impl<K: BenchKey, T: Lpm<K> + Default + Clone> Build<K> for Ours<T> {
    const PUBLISH: Option<PublishRate<K>> = Some(publish_rate::<K, T>);

    fn build(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error> {
        T::from_routes(routes).map(Ours)
    }
}

impl<K: BenchKey, T: Lpm<K>> Contender<K> for Ours<T> {
    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        self.0.lookup_batch(keys, out);
    }

    fn update(&mut self, p: Prefix<K>, nh: Option<NextHop>) {
        let done = match nh {
            Some(nh) => self.0.insert(p, nh).map(drop),
            None => self.0.remove(p).map(drop),
        };
        std::hint::black_box(done).ok();
    }

    fn warm(&self, prefixes: &[Prefix<K>]) {
        self.0.warm(prefixes);
    }

    fn bytes(&self) -> Option<usize> {
        Some(self.0.lookup_bytes())
    }
}

fn publish_rate<K: BenchKey, T: Lpm<K> + Default + Clone>(
    routes: &[(Prefix<K>, NextHop)],
) -> Result<f64, Error> {
    let (mut writer, reader) = Fib::new(T::from_routes(routes)?, Vec::new()).publish();
    let plan = update_plan(routes);
    let start = Instant::now();
    for batch in plan.chunks(FIB_BATCH) {
        let batch = batch
            .iter()
            .map(|&(p, nh)| nh.map_or(Update::Withdraw(p), |nh| Update::Route(p, nh)))
            .collect();
        writer.apply(batch)?;
        // A reader that reloads between batches, as forwarding cores do every burst.
        std::hint::black_box(reader.load().version());
    }
    Ok(plan.len() as f64 / start.elapsed().as_secs_f64())
}

impl<K: BenchKey> Build<K> for PrefixMap<(K, u8), NextHop> {
    fn build(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error> {
        let mut m = PrefixMap::new();
        for &(p, nh) in routes {
            m.insert((p.addr(), p.len()), nh);
        }
        Ok(m)
    }
}

impl<K: BenchKey> Contender<K> for PrefixMap<(K, u8), NextHop> {
    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        for (k, o) in keys.iter().zip(out.iter_mut()) {
            *o = self.get_lpm(&(*k, K::BITS)).map_or(0, |(_, nh)| *nh);
        }
    }

    fn update(&mut self, p: Prefix<K>, nh: Option<NextHop>) {
        let old = match nh {
            Some(nh) => self.insert((p.addr(), p.len()), nh),
            None => self.remove(&(p.addr(), p.len())),
        };
        std::hint::black_box(old);
    }

    fn bytes(&self) -> Option<usize> {
        None
    }
}

impl<K: BenchKey> Build<K> for IpNetworkTable<NextHop> {
    fn build(routes: &[(Prefix<K>, NextHop)]) -> Result<Self, Error> {
        let mut t = IpNetworkTable::new();
        for &(p, nh) in routes {
            t.update(p, Some(nh));
        }
        Ok(t)
    }
}

impl<K: BenchKey> Contender<K> for IpNetworkTable<NextHop> {
    #[inline]
    fn lookup_batch(&self, keys: &[K], out: &mut [NextHop]) {
        for (k, o) in keys.iter().zip(out.iter_mut()) {
            *o = self.longest_match(k.ip()).map_or(0, |(_, nh)| *nh);
        }
    }

    fn update(&mut self, p: Prefix<K>, nh: Option<NextHop>) {
        // Our prefixes are canonical, which is all `IpNetwork::new` checks.
        let Ok(net) = IpNetwork::new(p.addr().ip(), p.len()) else {
            return;
        };
        let old = match nh {
            Some(nh) => self.insert(net, nh),
            None => self.remove(net),
        };
        std::hint::black_box(old);
    }

    fn bytes(&self) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use brick_routing::{NO_ROUTE, Reference};

    use super::*;

    #[test]
    fn options_parse() {
        assert_eq!("v6".parse::<Family>(), Ok(Family::V6));
        assert_eq!("inside".parse::<Keys>(), Ok(Keys::Inside));
        assert!("v5".parse::<Family>().is_err());
        assert!("all".parse::<Keys>().is_err());
    }

    #[test]
    fn inside_keys_hit_a_route_and_plans_stay_in_the_table() {
        let routes: Vec<(Prefix<u32>, NextHop)> = ["10.0.0.0/8", "192.0.2.0/24", "203.0.113.7/32"]
            .iter()
            .map(|p| (p.parse().unwrap(), 1))
            .collect();
        let table = Reference::from_routes(&routes).unwrap();
        assert!(
            make_keys(&routes, Keys::Inside)
                .iter()
                .all(|&k| table.lookup(k) != NO_ROUTE)
        );
        let plan = update_plan(&routes);
        assert_eq!(plan.len(), UPDATES);
        assert!(plan.iter().all(|(p, _)| routes.iter().any(|(q, _)| q == p)));
        assert!(plan.iter().any(|(_, nh)| nh.is_none()));
    }
}
