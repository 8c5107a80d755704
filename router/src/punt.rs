//! The punt path: frames the data path hands to the control plane, and the control plane's
//! answers back to the wire.
//!
//! ```text
//!   pipeline (per core) --Punted--> [to_control ring] --> ControlPlane::handle
//!          ^                                                   |
//!          +------------ [to_wire ring] <--(port, frame)-------+
//! ```
//!
//! Both rings are bounded lock-free queues: a full ring drops and counts, it never blocks a core.
//! The data path also limits how fast it punts (a token bucket per pipeline), so a flood of
//! packets for the control plane cannot take the cores with it (control-plane protection). What
//! the control plane does with them is in [`crate::control`].

use crossbeam_queue::ArrayQueue;

use crate::verdict::Punt;

/// A frame for the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Punted {
    /// Port it arrived on.
    pub port: u16,
    /// Why the data path punted it.
    pub kind: Punt,
    /// The frame, copied out of the data path's pool.
    pub frame: Vec<u8>,
}

/// The two rings between the data path and the control plane.
#[derive(Debug)]
pub struct PuntPath {
    /// Data path to control plane.
    pub to_control: ArrayQueue<Punted>,
    /// Control plane to the wire: (port, frame).
    pub to_wire: ArrayQueue<(u16, Vec<u8>)>,
}

impl PuntPath {
    /// Rings of `capacity` entries each.
    pub fn new(capacity: usize) -> Self {
        PuntPath {
            to_control: ArrayQueue::new(capacity.max(1)),
            to_wire: ArrayQueue::new(capacity.max(1)),
        }
    }
}

/// A token bucket: `rate` punts per second, bursts of up to `burst`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last_ns: u64,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(rate_per_s: u32, burst: u32) -> Self {
        RateLimit {
            rate: f64::from(rate_per_s),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last_ns: 0,
        }
    }

    /// Takes a token at `now_ns` if there is one.
    #[inline]
    pub fn allow(&mut self, now_ns: u64) -> bool {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = now_ns;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_a_burst_then_the_rate() {
        let mut r = RateLimit::new(1000, 10);
        let allowed = (0..100).filter(|_| r.allow(1_000_000_000)).count();
        assert_eq!(allowed, 10, "the burst");
        assert!(!r.allow(1_000_000_000));
        assert!(r.allow(1_001_000_000), "one token per millisecond");
        assert!(!r.allow(1_001_000_000));
        let later = (0..100).filter(|_| r.allow(5_000_000_000)).count();
        assert_eq!(later, 10, "never more than the burst after a pause");
    }
}
