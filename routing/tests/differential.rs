//! Every LPM table against the reference: random tables from proptest (with /0, host routes,
//! nested and overlapping prefixes, deletes), and the full BGP tables of `../shared/data` when
//! they are there.

use std::path::Path;
use std::time::Instant;

use brick_routing::loader;
use brick_routing::{Dir24, Key, Lpm, NextHop, Poptrie4, Poptrie6, Prefix, Reference};
use proptest::prelude::*;

/// What the tests need of a key beyond [`Key`].
trait TestKey:
    Key
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + From<u8>
    + std::ops::Not<Output = Self>
{
}
impl TestKey for u32 {}
impl TestKey for u128 {}

/// Keys that probe a prefix: its first and last address, their outer neighbours, a middle one.
fn probes<K: TestKey>(p: Prefix<K>, salt: K) -> [K; 5] {
    let host = !K::mask(p.len());
    let (first, last) = (p.addr(), p.addr().or(host));
    let one = K::from(1);
    [
        first,
        last,
        if first == K::ZERO { first } else { first - one },
        if last == !K::ZERO { last } else { last + one },
        first.or(salt.and(host)),
    ]
}

/// Compares `t` with `r` on `keys`, one by one and in batches.
fn compare<K: Key, T: Lpm<K>>(name: &str, t: &T, r: &Reference<K>, keys: &[K]) {
    let mut out = vec![0; keys.len()];
    t.lookup_batch(keys, &mut out);
    for (k, got) in keys.iter().zip(&out) {
        let want = r.lookup(*k);
        assert_eq!(*got, want, "{name}: batched lookup of {k:x?}");
        assert_eq!(t.lookup(*k), want, "{name}: lookup of {k:x?}");
    }
    assert_eq!(t.len(), r.len(), "{name}: prefix count");
}

/// One step of a random table's life.
#[derive(Clone, Debug)]
enum Op<K> {
    Insert(Prefix<K>, NextHop),
    Remove(Prefix<K>),
}

/// Prefixes clustered under a few roots so that they nest and overlap, lengths spread over the
/// whole range with extra weight on 0, the direct-table width and the host length.
fn prefixes<K: TestKey>(
    roots: Vec<K>,
    lens: impl Strategy<Value = u8> + Clone,
    noise: impl Strategy<Value = K> + Clone,
) -> impl Strategy<Value = Prefix<K>> + Clone {
    let keep = 8..=K::BITS;
    (proptest::sample::select(roots), lens, keep, noise).prop_map(|(root, len, keep, noise)| {
        // Same top `keep` bits as the root, random below.
        let addr = root.and(K::mask(keep)).or(noise.and(!K::mask(keep)));
        Prefix::new(addr.and(K::mask(len)), len).unwrap()
    })
}

fn ops<K: Key>(
    prefix: impl Strategy<Value = Prefix<K>> + Clone,
) -> impl Strategy<Value = Vec<Op<K>>> {
    let op = prop_oneof![
        3 => (prefix.clone(), 1..=5u16).prop_map(|(p, nh)| Op::Insert(p, nh)),
        1 => prefix.prop_map(Op::Remove),
    ];
    proptest::collection::vec(op, 1..300)
}

/// Plays `ops` into `t` and the reference, then compares them, then compares a table built in
/// one go from the surviving routes.
fn replay<K: Key, T: Lpm<K> + Default>(name: &str, ops: &[Op<K>], keys: &[K]) {
    let mut t = T::default();
    let mut r = Reference::default();
    for op in ops {
        match *op {
            Op::Insert(p, nh) => assert_eq!(t.insert(p, nh).unwrap(), r.insert(p, nh).unwrap()),
            Op::Remove(p) => assert_eq!(t.remove(p).unwrap(), r.remove(p).unwrap()),
        }
    }
    compare(name, &t, &r, keys);
    let mut live: Vec<(Prefix<K>, NextHop)> = Vec::new();
    for op in ops {
        match *op {
            Op::Insert(p, nh) => {
                live.retain(|(q, _)| *q != p);
                live.push((p, nh));
            }
            Op::Remove(p) => live.retain(|(q, _)| *q != p),
        }
    }
    compare(
        &format!("{name} built in one go"),
        &T::from_routes(&live).unwrap(),
        &r,
        keys,
    );
}

fn keys_of<K: TestKey>(ops: &[Op<K>], extra: &[K]) -> Vec<K> {
    let mut keys = extra.to_vec();
    for (i, op) in ops.iter().enumerate() {
        let (Op::Insert(p, _) | Op::Remove(p)) = *op;
        keys.extend(probes(p, extra[i % extra.len()]));
    }
    keys
}

fn ipv4_ops() -> impl Strategy<Value = Vec<Op<u32>>> {
    ops(prefixes(
        vec![0u32, 0x0a00_0000, 0xc0a8_0000, 0xffff_ff00],
        prop_oneof![1 => Just(0u8), 1 => Just(32u8), 1 => Just(18u8), 1 => Just(24u8), 6 => 0..=32u8],
        any::<u32>(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn poptrie4_matches_the_reference(
        ops in ipv4_ops(),
        extra in proptest::collection::vec(any::<u32>(), 1..64),
    ) {
        replay::<u32, Poptrie4>("poptrie4", &ops, &keys_of(&ops, &extra));
    }

    #[test]
    fn poptrie6_matches_the_reference(
        ops in ops(prefixes(
            vec![0u128, 0x2001_0db8 << 96, 0x2a00 << 112, u128::MAX << 8],
            prop_oneof![1 => Just(0u8), 1 => Just(128u8), 1 => Just(16u8), 1 => Just(48u8), 6 => 0..=128u8],
            any::<u128>(),
        )),
        extra in proptest::collection::vec(any::<u128>(), 1..64),
    ) {
        replay::<u128, Poptrie6>("poptrie6", &ops, &keys_of(&ops, &extra));
    }
}

proptest! {
    // Each DIR-24-8 costs 64 MiB that short prefixes sweep: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn dir24_matches_the_reference(
        ops in ipv4_ops(),
        extra in proptest::collection::vec(any::<u32>(), 1..64),
    ) {
        replay::<u32, Dir24>("dir24", &ops, &keys_of(&ops, &extra));
    }
}

// ===== full tables =====

/// A path under the shared data folder, if the folder is there.
fn shared(file: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).join(file);
    if path.exists() {
        Some(path)
    } else {
        println!(
            "SKIPPED: {} not found (the shared data sits beside the repository)",
            path.display()
        );
        None
    }
}

/// A small xorshift, so that the keys are the same every run.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Loads a full table, builds every table for the family, and compares them on 1M random keys
/// plus probes of every prefix. Half the prefixes are then withdrawn one by one and the
/// comparison repeated on the updated tables.
fn full_table<K, T>(
    file: &str,
    name: &str,
    key: impl Fn(u64) -> K,
    also: impl Fn(&[(Prefix<K>, NextHop)], &Reference<K>, &[K]),
) where
    K: TestKey,
    T: Lpm<K> + Default,
{
    let Some(path) = shared(file) else { return };
    let start = Instant::now();
    let routes = loader::load::<K>(&path).unwrap().routes;
    let r = Reference::from_routes(&routes).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut keys: Vec<K> = (0..1_000_000).map(|_| key(xorshift(&mut seed))).collect();
    for (p, _) in &routes {
        keys.extend(probes(*p, key(xorshift(&mut seed))));
    }
    let mut t = T::from_routes(&routes).unwrap();
    compare(name, &t, &r, &keys);
    also(&routes, &r, &keys);

    let mut r = r;
    for (p, _) in routes.iter().step_by(2) {
        assert_eq!(t.remove(*p).unwrap(), r.remove(*p).unwrap());
    }
    compare(&format!("{name} after withdrawing half"), &t, &r, &keys);
    println!(
        "{name}: {} prefixes, {} keys, {:.1?}",
        routes.len(),
        keys.len(),
        start.elapsed()
    );
}

#[test]
fn full_ipv4_table() {
    full_table::<u32, Poptrie4>(
        "bgp-ipv4.txt.gz",
        "poptrie4",
        |x| x as u32,
        |routes, r, keys| {
            compare("dir24", &Dir24::from_routes(routes).unwrap(), r, keys);
        },
    );
}

#[test]
fn full_ipv6_table() {
    // Random IPv6 keys almost never hit a route: draw half of them inside 2000::/3.
    full_table::<u128, Poptrie6>(
        "bgp-ipv6.txt.gz",
        "poptrie6",
        |x| {
            let k = u128::from(x) << 64 | u128::from(x.rotate_left(17));
            if x & 1 == 0 {
                k
            } else {
                (k >> 3) | 0x2000 << 112
            }
        },
        |_, _, _| {},
    );
}
