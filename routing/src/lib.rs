//! Tables and routing protocols: IPv4/IPv6 longest-prefix match, the RIB, FIB compilation and
//! lock-free publication, and the RIPv2 and OSPFv2 daemons with their wire formats.
//!
//! Nothing has landed here yet; see DESIGN in `docs/architecture.md`.
#![forbid(unsafe_code)]
