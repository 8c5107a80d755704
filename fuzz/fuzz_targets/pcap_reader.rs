//! The pcap reader over arbitrary bytes: it returns frames or stops, and never panics. Inputs whose
//! first byte is odd get a valid header in front, so the record parser is reached as often as the
//! header checks.
#![no_main]

use brick_io::backend::pcap::PcapRx;
use brick_io::{Burst, Pool, PoolConfig, RxQueue};
use libfuzzer_sys::fuzz_target;

const HEADER: [u8; 24] = [
    0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
];

fuzz_target!(|data: &[u8]| {
    let bytes = match data.split_first() {
        Some((b, rest)) if b & 1 == 1 => HEADER.iter().chain(rest).copied().collect(),
        _ => data.to_vec(),
    };
    if let Ok(mut rx) = PcapRx::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(bytes))) {
        let pool = Pool::new(PoolConfig { frames: 64, ..Default::default() }).unwrap();
        let mut burst = Burst::new(32);
        for _ in 0..64 {
            if rx.rx_burst(&pool, &mut burst) == 0 {
                break;
            }
            burst.clear();
        }
    }
});
