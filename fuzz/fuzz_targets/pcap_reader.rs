//! The pcap reader over arbitrary files: it returns frames or stops, and never panics.
#![no_main]

use brick_io::backend::pcap;
use brick_io::{Burst, Pool, PoolConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("brick-fuzz-{}.pcap", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(port) = pcap::open(Some(&path), None, 0) {
        let (mut rx, _) = port.split();
        let pool = Pool::new(PoolConfig { frames: 64, ..Default::default() }).unwrap();
        let mut burst = Burst::new(32);
        for _ in 0..64 {
            if rx[0].rx_burst(&pool, &mut burst) == 0 {
                break;
            }
            burst.clear();
        }
    }
});
