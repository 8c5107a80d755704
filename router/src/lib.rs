//! One router node: the per-core RFC 1812 forwarding pipeline, ARP/ND, ICMP, the punt path to the
//! control plane, and configuration.
//!
//! - [`wire`]: typed views over the frames the data path touches (Ethernet, IPv4, ARP, ICMPv4) and
//!   `Repr`s for the slow paths that build replies. The forwarding path reads and rewrites headers in
//!   place through the views; nothing here allocates.
//! - [`classify`]: the first pass over a received frame: RFC 1812 header validation and martian
//!   filtering, and the split into forward, punt to the control plane, or drop.
//! - [`neighbor`]: the ARP cache of the control plane: resolution with a bounded queue of waiting
//!   packets, aging, and limits an ARP flood cannot exceed. No I/O: it returns what to send.
//! - [`pipeline`]: the per-core IPv4 forwarding pipeline: classify, batched FIB lookup, ECMP
//!   path, neighbour MAC, RFC 1624 rewrite, one tx burst per output port.
//! - [`punt`]: the rings between the data path and the control plane, the punt rate limit, and
//!   the control plane that answers ARP, ping and expiring TTLs with [`reply`].
//! - [`reply`]: the replies the control plane builds for punted frames: ICMP echo replies, ICMP
//!   errors quoting the offending datagram (never where RFC 1812 forbids one), ARP replies.
//! - [`verdict`]: the values the data path decides ([`DropReason`], [`Punt`]), each a counter.
//!
//! ICMP rate limits per source, routing protocols on the control plane, IPv6 and configuration
//! come next (see `docs/architecture.md`).
#![forbid(unsafe_code)]

pub mod classify;
pub mod neighbor;
pub mod pipeline;
pub mod punt;
pub mod reply;
pub mod verdict;
pub mod wire;

pub use verdict::{DropReason, Punt};
