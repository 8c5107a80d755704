//! Readers looking up in a loop while the writer applies 1M updates: every snapshot a reader
//! holds must be one whole published version, never a mix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use brick_routing::{Fib, Lpm, Poptrie4, Prefix, Update};

const PREFIXES: u32 = 500;
const ROUNDS: u64 = 1000;

/// Prefix `i`: a /24 (10.0.0.0/24 + i) ...
fn prefix(i: u32) -> Prefix<u32> {
    Prefix::new(0x0a00_0000 | i << 8, 24).unwrap()
}

/// ... and inside it a /28 (.16/28) that exists in odd rounds only.
fn inner(i: u32) -> Prefix<u32> {
    Prefix::new(0x0a00_0010 | i << 8, 28).unwrap()
}

/// The next hop of every prefix after round `r` (round 0 is the initial table).
fn nh(r: u64) -> u16 {
    (r % 200) as u16 + 1
}

#[test]
fn readers_see_whole_versions() {
    let routes: Vec<_> = (0..PREFIXES).map(|i| (prefix(i), nh(0))).collect();
    let (mut writer, reader) =
        Fib::new(Poptrie4::from_routes(&routes).unwrap(), Vec::new()).publish();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (reader, stop) = (reader.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let keys: Vec<u32> = (0..PREFIXES)
                    .flat_map(|i| [0x0a00_0000 | i << 8 | 0x15, 0x0a00_0000 | i << 8 | 0x80])
                    .collect();
                let mut out = vec![0; keys.len()];
                let (mut last, mut snapshots) = (0, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let fib = reader.load();
                    // Versions only move forward, and each round is one version.
                    let r = fib.version();
                    assert!(r >= last, "version went back from {last} to {r}");
                    last = r;
                    fib.lookup_batch(&keys, &mut out);
                    for (i, pair) in out.chunks_exact(2).enumerate() {
                        // Inside the /28 in odd rounds: the /28's hop, the /24's otherwise.
                        let inner = if r % 2 == 1 { nh(r) + 100 } else { nh(r) };
                        assert_eq!(pair, [inner, nh(r)], "prefix {i} in version {r}");
                    }
                    snapshots += 1;
                    // Two cores for three threads: let the writer run.
                    thread::yield_now();
                }
                snapshots
            })
        })
        .collect();

    let mut updates = 0;
    for r in 1..=ROUNDS {
        let mut batch: Vec<_> = (0..PREFIXES)
            .map(|i| Update::Route(prefix(i), nh(r)))
            .collect();
        if r % 2 == 1 {
            batch.extend((0..PREFIXES).map(|i| Update::Route(inner(i), nh(r) + 100)));
        } else {
            batch.extend((0..PREFIXES).map(|i| Update::Withdraw(inner(i))));
        }
        updates += batch.len();
        assert_eq!(writer.apply(batch).unwrap(), r);
    }
    stop.store(true, Ordering::Relaxed);
    let snapshots: Vec<u64> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    println!("{updates} updates, snapshots checked per reader: {snapshots:?}");
    assert!(updates >= 1_000_000);
    assert!(snapshots.iter().all(|&s| s > 0));
    let fib = reader.load();
    assert_eq!((fib.version(), fib.len()), (ROUNDS, PREFIXES as usize));
}
