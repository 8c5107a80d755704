//! One router node: the per-core RFC 1812 forwarding pipeline, ARP/ND, ICMP, the punt path to the
//! control plane, and configuration.
//!
//! - [`wire`]: typed views over the frames the data path touches (Ethernet, IPv4, ARP, ICMPv4) and
//!   `Repr`s for the slow paths that build replies. The forwarding path reads and rewrites headers in
//!   place through the views; nothing here allocates.
//!
//! The pipeline, neighbour tables, ICMP generation and configuration come next (see
//! `docs/architecture.md`).
#![forbid(unsafe_code)]

pub mod wire;
