//! Many nodes as one router: node ids, topologies, Valiant Load Balancing with flowlet reordering
//! mitigation, internal encapsulation, FIB distribution and liveness.
//!
//! Nothing has landed here yet; see `docs/architecture.md`.
#![forbid(unsafe_code)]
