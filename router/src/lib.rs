//! One router node: the per-core RFC 1812 forwarding pipeline, ARP/ND, ICMP, the punt path to the
//! control plane, and configuration.
//!
//! - [`wire`]: typed views over the frames the data path touches (Ethernet, IPv4, IPv6, ARP,
//!   ICMPv4, ICMPv6 and Neighbor Discovery) and
//!   `Repr`s for the slow paths that build replies. The forwarding path reads and rewrites headers in
//!   place through the views; nothing here allocates.
//! - [`classify`]: the first pass over a received frame: RFC 1812 header validation and martian
//!   filtering, and the split into forward, punt to the control plane, or drop.
//! - [`neighbor`]: the ARP cache of the control plane: resolution with a bounded queue of waiting
//!   packets, aging, and limits an ARP flood cannot exceed. No I/O: it returns what to send.
//! - [`pipeline`]: the per-core IPv4 forwarding pipeline: classify, batched FIB lookup, ECMP
//!   path, neighbour MAC, RFC 1624 rewrite, one tx burst per output port.
//! - [`punt`]: the rings between the data path and the control plane, and the punt rate limit.
//! - [`control`]: the control plane: ARP and Neighbor Discovery (responder, resolver,
//!   announcements), ICMP and ICMPv6 with a limit per source, and the slow forwarding path
//!   (resolution, fragmentation, packet too big).
//! - [`reply`]: the frames the control plane builds: ICMP echo replies, ICMP errors quoting the
//!   offending datagram (never where RFC 1812 forbids one), ARP replies and requests.
//! - [`fragment`]: IPv4 fragmentation for the slow path.
//! - [`config`]: the node's TOML configuration, with file:line errors.
//! - [`node`]: a running node: ports, one worker per core, the control thread, the control socket
//!   behind `brick show`.
//! - [`verdict`]: the values the data path decides ([`DropReason`], [`Punt`]), each a counter.
//!
//! The routing protocols come next (see `docs/architecture.md`).
#![forbid(unsafe_code)]

pub mod classify;
pub mod config;
pub mod control;
pub mod fragment;
pub mod neighbor;
pub mod node;
pub mod pipeline;
pub mod punt;
pub mod reply;
pub mod verdict;
pub mod wire;

pub use config::Config;
pub use node::Node;
pub use verdict::{DropReason, Punt};
