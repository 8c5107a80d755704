//! Packet I/O for Brick: frames, bursts, ports and the loop that polls them.
//!
//! - [`pool`]: preallocated, thread-local frame pools and the move-only [`Packet`] handle.
//! - [`burst`]: fixed-capacity bursts ([`Burst`], 32 by default, 64 at most).
//! - [`port`]: the port API every backend implements ([`RxQueue`], [`TxQueue`]) and the [`Port`]
//!   that owns a set of queues until they are split among worker threads.
//! - [`backend`]: `mem` cables between in-process ports, `af_packet` (TPACKET_V3 rings, fanout),
//!   `af_xdp` (XDP sockets and their steering program) and `pcap` files.
//! - [`ring`]: the single-producer single-consumer ring that carries frames over a mem cable.
//! - [`poll`]: the poll loop, its idle policy (busy, adaptive, interrupt) and core pinning.
//! - [`stats`]: per-queue counters with one writer and lock-free readers.
//! - [`netns`]: network namespaces and veth pairs, for tests, benchmarks and the virtual rack.
//! - [`flow`]: the stable 5-tuple hash used for queue steering.
//! - [`testframe`]: frames with a flow id and a sequence number, for tests and benchmarks.
//! - [`clock`]: the monotonic nanosecond clock that stamps received bursts.
//!
//! This is the only crate of the workspace that allows `unsafe` (kernel rings, mmap, the frame
//! region of a pool); each use is a single block with a `SAFETY:` comment.

pub mod backend;
pub mod burst;
pub mod clock;
mod error;
pub mod flow;
pub mod netns;
pub mod poll;
pub mod pool;
pub mod port;
pub mod ring;
pub mod stats;
pub mod testframe;

pub use burst::{Burst, DEFAULT_BURST, MAX_BURST};
pub use error::Error;
pub use poll::{IdlePolicy, Priority};
pub use pool::{Meta, Packet, Pool, PoolConfig};
pub use port::{Port, PortStats, Rx, RxQueue, Tx, TxQueue, Wake};
pub use stats::{DropReason, QueueStats, Snapshot};
