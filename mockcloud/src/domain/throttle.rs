//! Request rate limits of an instance (S51): its compute performance (spec) gives N symmetric
//! operations per second and 15% of N asymmetric ones (S03).
//!
//! Each limit is a sliding one-second window: a request is admitted when fewer than N requests
//! were admitted in the second before it. N requests at once pass, the next one is refused until
//! the oldest of them is a second old, and over any interval of T seconds at most N·T requests
//! pass (exactly N·T under saturating load), so the measured rate matches the spec without the
//! extra burst a token bucket would allow. Pure: the caller passes wall time in, in
//! microseconds, from a clock that never goes back.

use std::collections::VecDeque;

pub const WINDOW_US: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext.
    Symmetric,
    /// AsymmetricSign, AsymmetricVerify, GetPublicKey.
    Asymmetric,
}

// Deviation: the real limiter's algorithm is not published; a sliding window makes the
// measured rate equal the spec.
/// At most `limit` admissions in any window of one second.
#[derive(Debug, Clone)]
pub struct RateWindow {
    limit: usize,
    /// Admission times within the last window, oldest first (at most `limit` of them).
    admitted: VecDeque<i64>,
}

impl RateWindow {
    pub fn new(limit: u32) -> RateWindow {
        RateWindow {
            limit: limit as usize,
            admitted: VecDeque::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit as u32
    }

    /// Admits a request at `now_us`, or says how long (µs) until one would be admitted.
    pub fn try_acquire(&mut self, now_us: i64) -> Result<(), i64> {
        while self
            .admitted
            .front()
            .is_some_and(|t| *t <= now_us - WINDOW_US)
        {
            self.admitted.pop_front();
        }
        if self.admitted.len() < self.limit {
            self.admitted.push_back(now_us);
            Ok(())
        } else {
            let oldest = self.admitted.front().copied().unwrap_or(now_us);
            Err((oldest + WINDOW_US - now_us).max(1))
        }
    }
}

/// The two limits of one instance, for its current spec.
#[derive(Debug, Clone)]
pub struct InstanceLimits {
    spec: u32,
    symmetric: RateWindow,
    asymmetric: RateWindow,
}

/// S03: asymmetric throughput is 15% of the spec (2000 gives 300), at least 1.
pub fn asymmetric_limit(spec: u32) -> u32 {
    (spec.saturating_mul(15) / 100).max(1)
}

impl InstanceLimits {
    pub fn new(spec: u32) -> InstanceLimits {
        InstanceLimits {
            spec,
            symmetric: RateWindow::new(spec),
            asymmetric: RateWindow::new(asymmetric_limit(spec)),
        }
    }

    pub fn spec(&self) -> u32 {
        self.spec
    }

    pub fn try_acquire(&mut self, class: OpClass, now_us: i64) -> Result<(), i64> {
        match class {
            OpClass::Symmetric => self.symmetric.try_acquire(now_us),
            OpClass::Asymmetric => self.asymmetric.try_acquire(now_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_requests_in_one_second_pass_and_the_next_is_refused() {
        let mut w = RateWindow::new(200);
        let t0 = 5_000_000;
        for i in 0..200 {
            assert!(w.try_acquire(t0 + i * 1000).is_ok(), "request {i}");
        }
        // The 201st within the same second waits for the first to leave the window.
        assert_eq!(w.try_acquire(t0 + 500_000), Err(500_000));
        assert!(w.try_acquire(t0 + WINDOW_US - 1).is_err());
        // A second after the first admission, one slot is free again.
        assert!(w.try_acquire(t0 + WINDOW_US).is_ok());
        assert!(w.try_acquire(t0 + WINDOW_US).is_err());
    }

    #[test]
    fn a_burst_at_one_instant_gets_exactly_the_limit_and_refills_after_a_second() {
        let mut w = RateWindow::new(30);
        let admitted = (0..100).filter(|_| w.try_acquire(0).is_ok()).count();
        assert_eq!(admitted, 30);
        assert_eq!(w.try_acquire(0), Err(WINDOW_US));
        let admitted = (0..100)
            .filter(|_| w.try_acquire(WINDOW_US).is_ok())
            .count();
        assert_eq!(admitted, 30);
    }

    #[test]
    fn saturating_load_for_ten_seconds_admits_the_spec_rate_exactly() {
        // Offered load: 5x the spec, evenly spread; the admitted rate over 10 s must be within
        // 5% of the spec (it is exact).
        for spec in [200u32, 1000, 2000] {
            let mut limits = InstanceLimits::new(spec);
            let offered_per_s = spec as i64 * 5;
            let step = WINDOW_US / offered_per_s;
            let mut admitted = [0u64; 2];
            let mut t = 0;
            while t < 10 * WINDOW_US {
                for (i, class) in [OpClass::Symmetric, OpClass::Asymmetric].iter().enumerate() {
                    if limits.try_acquire(*class, t).is_ok() {
                        admitted[i] += 1;
                    }
                }
                t += step;
            }
            let sym_rate = admitted[0] as f64 / 10.0;
            let asym_rate = admitted[1] as f64 / 10.0;
            assert!(
                (sym_rate - spec as f64).abs() <= 0.05 * spec as f64,
                "spec {spec}: {sym_rate}/s"
            );
            let asym = asymmetric_limit(spec) as f64;
            assert!(
                (asym_rate - asym).abs() <= 0.05 * asym,
                "spec {spec}: {asym_rate}/s"
            );
            assert_eq!(admitted[0], 10 * spec as u64);
        }
    }

    #[test]
    fn asymmetric_limit_is_fifteen_percent_of_the_spec() {
        assert_eq!(asymmetric_limit(2000), 300);
        assert_eq!(asymmetric_limit(1000), 150);
        assert_eq!(asymmetric_limit(200), 30);
        let mut l = InstanceLimits::new(200);
        assert_eq!(l.spec(), 200);
        let sym = (0..1000)
            .filter(|_| l.try_acquire(OpClass::Symmetric, 0).is_ok())
            .count();
        let asym = (0..1000)
            .filter(|_| l.try_acquire(OpClass::Asymmetric, 0).is_ok())
            .count();
        assert_eq!((sym, asym), (200, 30));
    }
}
