//! One router node: the per-core RFC 1812 forwarding pipeline, ARP/ND, ICMP, the punt path to the
//! control plane, and configuration.
//!
//! Nothing has landed here yet; see `docs/architecture.md`.
#![forbid(unsafe_code)]
