//! Waiting on long operations, split the AWS way: the caller's closure *finds* the object and
//! reads its *status*; [`until`] polls it from pending to a target with backoff under a timeout.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::client::ApiError;

/// One observation of the thing being waited for.
pub enum Poll<T> {
    Done(T),
    /// Not there yet; the text says what was seen (for the timeout message).
    Pending(String),
    /// A terminal state that is not the target.
    Failed(String),
}

#[derive(Debug)]
pub enum WaitError {
    Timeout { waited: Duration, last: String },
    Failed(String),
    Api(ApiError),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Timeout { waited, last } => {
                write!(f, "gave up after {}: last seen {last}", human(*waited))
            }
            WaitError::Failed(s) => f.write_str(s),
            WaitError::Api(e) => write!(f, "{e}"),
        }
    }
}

/// Polls `check` from the start (no fixed initial delay), backing off from `min_interval` by 1.5x
/// up to 30 s, until it is done, failed, or `timeout` has passed.
pub async fn until<T, F, Fut>(
    timeout: Duration,
    min_interval: Duration,
    mut check: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ApiError>>,
{
    let start = Instant::now();
    let mut interval = min_interval;
    let max_interval = Duration::from_secs(30).max(min_interval);
    loop {
        match check().await.map_err(WaitError::Api)? {
            Poll::Done(t) => return Ok(t),
            Poll::Failed(s) => return Err(WaitError::Failed(s)),
            Poll::Pending(last) => {
                let elapsed = start.elapsed();
                if elapsed >= timeout {
                    return Err(WaitError::Timeout {
                        waited: elapsed,
                        last,
                    });
                }
                tokio::time::sleep(interval.min(timeout - elapsed)).await;
                interval = interval.mul_f64(1.5).min(max_interval);
            }
        }
    }
}

/// Parses Terraform-style durations: `60m`, `1h30m`, `45s`, `500ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(secs);
        rest = &rest[unit_len..];
    }
    Some(total)
}

pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_terraform_timeouts() {
        assert_eq!(parse_duration("60m"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("ten minutes"), None);
        assert_eq!(parse_duration("5"), None);
    }

    #[tokio::test]
    async fn wait_times_out_with_the_last_status_seen() {
        let r: Result<(), _> = until(
            Duration::from_millis(50),
            Duration::from_millis(10),
            || async { Ok(Poll::Pending("Connecting".into())) },
        )
        .await;
        match r {
            Err(WaitError::Timeout { last, .. }) => assert_eq!(last, "Connecting"),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn wait_returns_once_done() {
        let mut n = 0;
        let r = until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            let done = n >= 3;
            async move {
                Ok(if done {
                    Poll::Done(n)
                } else {
                    Poll::Pending("x".into())
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(r, 3);
    }
}
