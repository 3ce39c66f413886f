//! Wake-up latency: how long threads whose blocking syscall returned waited for the CPU (the
//! serialised scheduler's cost to timing fidelity, DESIGN.md 6.2), for `info` and benchmarks.

use std::time::Duration;

/// A histogram of latencies in power-of-two microsecond buckets, with the maximum.
#[derive(Default, Debug)]
pub(crate) struct Latency {
    pub count: u64,
    pub max_us: u64,
    pub over_10ms: u64,
    buckets: [u64; 32],
}

impl Latency {
    pub fn add(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        self.count += 1;
        self.max_us = self.max_us.max(us);
        if us > 10_000 {
            self.over_10ms += 1;
        }
        let b = (64 - us.leading_zeros()).min(31) as usize;
        self.buckets[b] += 1;
    }

    /// The median, to within a factor of two (the upper bound of its bucket).
    pub fn median_us(&self) -> u64 {
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen * 2 >= self.count && n > 0 {
                return if b == 0 { 0 } else { 1u64 << b.min(63) };
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_max() {
        let mut l = Latency::default();
        for us in [3, 5, 6, 7, 20_000] {
            l.add(Duration::from_micros(us));
        }
        assert_eq!(l.count, 5);
        assert_eq!(l.max_us, 20_000);
        assert_eq!(l.over_10ms, 1);
        assert_eq!(l.median_us(), 8);
    }
}
