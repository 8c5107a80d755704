//! The forwarding pipeline alone on one core: bursts of frames to random destinations through
//! classify, batched lookup, rewrite and grouping, with a full table.
//!
//! Frames are built in the loop (a template, a random destination drawn from a precomputed list,
//! the header checksum), and the output bursts are freed instead of sent, so the figure is the
//! pipeline's own work: the run times the same loop without the pipeline and subtracts.

use std::path::Path;
use std::time::Instant;

use brick_io::{Burst, Pool, PoolConfig, testframe};
use brick_router::Punt;
use brick_router::neighbor::Macs;
use brick_router::pipeline::Pipeline;
use brick_router::wire::checksum;
use brick_routing::{NextHop, Prefix, loader};
use serde::Serialize;

use crate::Error;
use crate::demo::{self, ROUTER_MAC, RouterSetup};

/// What was measured.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineReport {
    /// Always "pipeline".
    pub bench: &'static str,
    /// The table file, or "generated".
    pub table: String,
    /// Prefixes in the FIB.
    pub prefixes: usize,
    /// Frame size (without FCS).
    pub size: usize,
    /// Packets through the pipeline per second on one core, in millions (frame building
    /// subtracted).
    pub mpps_per_core: f64,
    /// The whole loop, frame building included.
    pub loop_mpps: f64,
    /// Of the packets, how many were forwarded (the rest had no route).
    pub forwarded_share: f64,
}

/// Runs for `seconds` per loop with frames of `size` bytes, on the table in `table` (the format
/// of `brick bench lpm`) or a generated one of Internet shape.
pub fn run(table: Option<&Path>, size: usize, seconds: f64) -> Result<PipelineReport, Error> {
    if !(60..=1514).contains(&size) {
        return Err(Error::Usage(format!("frame size {size} outside 60..=1514")));
    }
    let (name, routes): (String, Vec<(Prefix<u32>, NextHop)>) = match table {
        Some(p) => {
            let f = loader::load::<u32>(p)?;
            (p.display().to_string(), f.routes)
        }
        None => (
            "generated".into(),
            demo::internet_table(1_000_000, 0x5eed_b51c),
        ),
    };
    let RouterSetup {
        reader,
        ports,
        neighbors,
        ..
    } = demo::router_setup(&routes)?;
    let mut pipeline = Pipeline::new(reader, ports, Macs::new(neighbors));
    let pool = Pool::new(PoolConfig::default())?;

    // Destinations: random unicast addresses (outside 127/8), fixed up front.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let dsts: Vec<[u8; 4]> = (0..4096)
        .map(|_| {
            loop {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let a = (rng as u32).to_be_bytes();
                if (1..=223).contains(&a[0]) && a[0] != 127 {
                    break a;
                }
            }
        })
        .collect();
    let mut template = vec![0u8; size.max(brick_io::pool::SMALL)];
    testframe::build(&mut template[..size], 1, 0);
    template[0..6].copy_from_slice(&ROUTER_MAC);

    let mut burst = Burst::new(brick_io::DEFAULT_BURST);
    let mut k = 0usize;
    let mut fill = |burst: &mut Burst| {
        while burst.room() != 0 {
            let Some(mut p) = pool.alloc_from_padded(size, &template) else {
                break;
            };
            let f = p.data_mut();
            f[30..34].copy_from_slice(&dsts[k & 4095]);
            k = k.wrapping_add(1);
            f[24..26].fill(0);
            let c = checksum::checksum(&f[14..34]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            let _ = burst.push(p);
        }
    };
    let mut timed = |process: bool, pipeline: &mut Pipeline<_>| {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < seconds {
            for _ in 0..64 {
                fill(&mut burst);
                n += burst.len() as u64;
                if process {
                    pipeline.process(0, &mut burst, &mut []);
                } else {
                    burst.clear();
                }
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let build_only = timed(false, &mut pipeline);
    let with_pipeline = timed(true, &mut pipeline);
    let c = pipeline.counters;
    let per_packet_ns = 1e9 / with_pipeline - 1e9 / build_only;
    Ok(PipelineReport {
        bench: "pipeline",
        table: name,
        prefixes: routes.len(),
        size,
        mpps_per_core: 1e3 / per_packet_ns.max(1e-3),
        loop_mpps: with_pipeline / 1e6,
        forwarded_share: (c.tx_dropped as f64)
            / (c.tx_dropped + c.punt(Punt::NoRoute)).max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_on_a_generated_table() {
        let r = super::run(None, 60, 0.2).unwrap();
        assert!(r.mpps_per_core > 0.0 && r.loop_mpps > 0.0);
        assert!(
            r.forwarded_share > 0.99,
            "the default route catches all: {r:?}"
        );
    }
}
