//! Measuring Brick. Every benchmark prints its figures and ends with one JSON line, so scripts and
//! docs/benchmarks.md can quote the same numbers.
//!
//! - [`demo`]: the embedded demo: a router node between two mem cables with a generated table of
//!   Internet shape and traffic through it.
//! - [`forward`]: the kernel and Brick (AF_PACKET, AF_XDP) forwarding the same traffic between
//!   namespaces, driven by XDP live frames, as ratios.
//! - [`traffic`]: the traffic generator and receiver (TOML profiles, pacing, loss, reordering,
//!   latency).
//! - [`genrate`]: the generator's rate per core on mem ports and on veth, beside trafgen.
//! - [`lpm`]: LPM lookups, build and updates on a real table, ours beside DIR-24-8 and crates.
//! - [`pipeline`]: the router's forwarding pipeline alone on one core, with a full table.
//! - [`mem`]: mem cable throughput, one producer core to one consumer core.
//! - [`rfc2544`]: RFC 2544 throughput, latency and loss-rate tests against any device under test.
//! - [`xdp`]: AF_XDP ports beside AF_PACKET ports on one veth pair, as a ratio.
//! - [`ring`]: the SPSC ring of mem cables beside crossbeam's `ArrayQueue` on the same frames.
#![forbid(unsafe_code)]

pub use error::Error;

pub mod demo;
mod error;
pub mod forward;
pub mod genrate;
pub mod lpm;
pub mod mem;
pub mod pipeline;
pub mod rfc2544;
pub mod ring;
pub mod traffic;
pub mod veth;
pub mod xdp;

/// Prints the report's JSON line (last line of every benchmark's output).
pub fn print_json<T: serde::Serialize>(report: &T) {
    use std::io::Write;
    match serde_json::to_string(report) {
        // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
        Ok(line) => {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        Err(e) => eprintln!("cannot encode report: {e}"),
    }
}
