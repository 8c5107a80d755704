//! Measuring Brick. Every benchmark prints its figures and ends with one JSON line, so scripts and
//! docs/benchmarks.md can quote the same numbers.
//!
//! - [`mem`]: mem cable throughput, one producer core to one consumer core.
//! - [`ring`]: the SPSC ring of mem cables beside crossbeam's `ArrayQueue` on the same frames.
#![forbid(unsafe_code)]

pub mod mem;
pub mod ring;
pub mod veth;

/// Prints the report's JSON line (last line of every benchmark's output).
pub fn print_json<T: serde::Serialize>(report: &T) {
    match serde_json::to_string(report) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("cannot encode report: {e}"),
    }
}
