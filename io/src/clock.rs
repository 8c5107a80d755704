//! The monotonic clock that stamps received bursts and transmitted test frames.

/// CLOCK_MONOTONIC in nanoseconds, read through the vDSO (no syscall). The same clock in every
/// process of the machine, so a generator and a receiver in two processes (or namespaces) can
/// measure latency. Read once per burst, not per packet.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: writes one live timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts)
    };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn monotonic_and_shared_with_std() {
        let a = super::now_ns();
        let i = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::now_ns();
        assert!(b >= a + 2_000_000, "{a} {b}");
        assert!(b - a <= i.elapsed().as_nanos() as u64 + 1_000_000);
    }
}
