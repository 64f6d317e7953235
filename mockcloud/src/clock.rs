//! The simulated clock: simulated time is a function of wall time and a persisted anchor.
//!
//! `now = anchor_sim + (wall_now - anchor_wall) * scale`, so it keeps running while the mock is
//! down, and a restart mid-enablement resumes. `advance` moves the anchor. Lifecycle rules read
//! this clock; signatures, nonces and TLS read wall time.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, on the simulated clock.
pub type SimMillis = i64;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Anchor {
    pub wall_ms: i64,
    pub sim_ms: i64,
    /// Simulated seconds per real second.
    pub scale: f64,
}

impl Anchor {
    pub fn start(scale: f64) -> Anchor {
        let now = wall_now_ms();
        Anchor {
            wall_ms: now,
            sim_ms: now,
            scale,
        }
    }

    pub fn now_at(&self, wall_ms: i64) -> SimMillis {
        self.sim_ms + ((wall_ms - self.wall_ms) as f64 * self.scale) as i64
    }

    pub fn now(&self) -> SimMillis {
        self.now_at(wall_now_ms())
    }

    /// The same simulated instant, re-anchored at wall time now with a new scale.
    pub fn rescaled(&self, scale: f64) -> Anchor {
        let wall = wall_now_ms();
        Anchor {
            wall_ms: wall,
            sim_ms: self.now_at(wall),
            scale,
        }
    }

    pub fn advanced(&self, by_ms: i64) -> Anchor {
        Anchor {
            sim_ms: self.sim_ms + by_ms,
            ..*self
        }
    }
}

pub fn wall_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ISO-8601 UTC with seconds, as the API prints times (`2024-03-25T10:00:00Z`).
pub fn iso(ms: SimMillis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// Parses `2024-01-01T00:00:00Z`, with or without fractional seconds, to Unix milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

pub const MINUTE: i64 = 60_000;

/// Wall time for request-rate limits (S51): monotonic microseconds, or a manual clock that
/// tests move by hand. Never the simulated clock: throttling is about real request rates.
#[derive(Debug, Clone)]
pub struct RateClock {
    start: std::time::Instant,
    manual: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Default for RateClock {
    fn default() -> Self {
        RateClock::system()
    }
}

impl RateClock {
    pub fn system() -> RateClock {
        RateClock {
            start: std::time::Instant::now(),
            manual: None,
        }
    }

    /// A clock standing still at 0 until [`RateClock::advance_us`] moves it.
    pub fn manual() -> RateClock {
        RateClock {
            start: std::time::Instant::now(),
            manual: Some(Default::default()),
        }
    }

    pub fn now_us(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(std::sync::atomic::Ordering::SeqCst),
            None => self.start.elapsed().as_micros() as i64,
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance_us(&self, us: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(us.max(0), std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_time_runs_at_scale_and_advances() {
        let a = Anchor {
            wall_ms: 1_000_000,
            sim_ms: 5_000_000,
            scale: 300.0,
        };
        assert_eq!(a.now_at(1_001_000), 5_000_000 + 300_000);
        assert_eq!(a.advanced(MINUTE).now_at(1_000_000), 5_000_000 + MINUTE);
    }

    #[test]
    fn manual_rate_clock_moves_only_when_told() {
        let c = RateClock::manual();
        let shared = c.clone();
        assert_eq!(c.now_us(), 0);
        shared.advance_us(1500);
        assert_eq!(c.now_us(), 1500);
        let sys = RateClock::system();
        assert!(sys.now_us() >= 0);
    }

    #[test]
    fn iso_round_trips() {
        let ms = parse_iso("2024-03-25T10:00:00Z").unwrap();
        assert_eq!(iso(ms), "2024-03-25T10:00:00Z");
        assert_eq!(parse_iso("2024-03-25T10:00:00.123Z").unwrap(), ms + 123);
        assert!(parse_iso("yesterday").is_none());
    }
}
