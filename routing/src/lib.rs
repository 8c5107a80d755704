//! Tables and routing protocols.
//!
//! - [`prefix`]: addresses as integer [`Key`]s (`u32`, `u128`) and [`Prefix`]es, which refuse
//!   host bits.
//! - [`lpm`]: longest-prefix match behind one [`Lpm`] trait: [`Poptrie`], the data path's compressed
//!   trie; [`Dir24`], DPDK's DIR-24-8 as a yardstick; [`Reference`], for tests.
//! - [`rib`]: routes from every source, best-path selection by administrative distance and metric,
//!   ECMP groups, and the FIB changes that follow.
//! - [`fib`]: the forwarding table (LPM plus next-hop groups) and its lock-free publication to
//!   forwarding cores.
//! - [`loader`]: route files (`prefix/len next-hop`, gzip accepted) with errors that name the line.
//! - [`error`]: the crate's [`Error`].
#![forbid(unsafe_code)]

pub mod error;
pub mod fib;
pub mod loader;
pub mod lpm;
pub mod prefix;
pub mod rib;

pub use error::Error;
pub use fib::{Fib, FibReader, FibWriter, Gateway, Update};
pub use lpm::{Dir24, Lpm, NO_ROUTE, NextHop, Poptrie, Poptrie4, Poptrie6, Reference};
pub use prefix::{Ipv4Prefix, Ipv6Prefix, Key, Prefix};
