//! When to send a request again, and how long to wait first.
//!
//! Exponential backoff with full jitter: before retry `n` (0 for the first retry) the client
//! sleeps a uniformly random time in `[0, min(cap, base × 2ⁿ)]`. The randomness matters as
//! much as the growth: the orchestrator's dispatch threads hit the same throttled service at
//! the same moment, and equal delays would send them back in lock step.
//!
//! Only answers that say "try again" are retried: throttling (HTTP 429, S3 `SlowDown`, Glue
//! `ThrottlingException`, Lambda `TooManyRequestsException`), the services' internal errors
//! (500/502/503/504, `InternalError`, `InternalServiceException`), S3's `RequestTimeout`
//! (a 400: the body arrived too slowly), and failures with no answer at all (connection
//! refused or lost, timeouts). Anything else — 403, 404, 412, a validation error — is the
//! answer, and returns at once.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a client retries: attempts, backoff and a bound on the total time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends of one request at most, the first included.
    pub max_attempts: u32,
    /// The bound of the first retry's random delay; it doubles with each retry.
    pub base: Duration,
    /// The largest bound of one delay.
    pub cap: Duration,
    /// No retry starts later than this after the first send, so a call returns within
    /// `budget` plus one request's timeout.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts; delay bounds 0.2, 0.4, 0.8, 1.6, 3.2, 6.4 and 10 s (at most 22.6 s of
    /// sleep in all, 11.3 s on average); nothing started after 45 s, which leaves room for one
    /// retry after a request that timed out at the default 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            budget: Duration::from_secs(45),
        }
    }
}

impl RetryPolicy {
    /// A policy that sends once.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// `policy` with `AWS_MAX_ATTEMPTS` (1 to 20) and `SWEEP_AWS_RETRY_BUDGET_MS` (0 to 900000)
    /// applied where set: the emulation's fault tests shorten the retries this way.
    pub fn from_env(policy: RetryPolicy) -> Result<Self, String> {
        Self::from_vars(policy, |name| std::env::var(name).ok())
    }

    fn from_vars(
        mut policy: RetryPolicy,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let number = |name: &str, max: u64| -> Result<Option<u64>, String> {
            match var(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(v) if v <= max => Ok(Some(v)),
                    _ => Err(format!("{name}={text:?}: want a whole number up to {max}")),
                },
            }
        };
        if let Some(n) = number("AWS_MAX_ATTEMPTS", 20)? {
            if n == 0 {
                return Err("AWS_MAX_ATTEMPTS=0: want at least 1".into());
            }
            policy.max_attempts = n as u32;
        }
        if let Some(ms) = number("SWEEP_AWS_RETRY_BUDGET_MS", 900_000)? {
            policy.budget = Duration::from_millis(ms);
        }
        Ok(policy)
    }

    /// The upper bound of the delay before retry `retry` (0 for the first):
    /// `min(cap, base × 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random delay in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32, jitter: &mut Jitter) -> Duration {
        self.ceiling(retry).mul_f64(jitter.unit())
    }

    /// The delay before the next send, after `attempts` sends and `elapsed` since the first;
    /// `None` when the attempts or the time budget are used up.
    pub fn next_delay(
        &self,
        attempts: u32,
        elapsed: Duration,
        jitter: &mut Jitter,
    ) -> Option<Duration> {
        if attempts == 0 {
            return Some(Duration::ZERO);
        }
        if attempts >= self.max_attempts {
            return None;
        }
        // A delay that would end past the budget is cut short, so the last try comes at the
        // budget's end: the whole budget is used, not given up early by an unlucky draw.
        let left = self.budget.checked_sub(elapsed).filter(|l| !l.is_zero())?;
        Some(self.delay(attempts - 1, jitter).min(left))
    }
}

/// A small random-number generator for the delays (SplitMix64): seeded for tests, from the
/// process's hash keys and a counter otherwise, so no two calls share a sequence.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator with a fixed seed (reproducible delays).
    pub fn seeded(seed: u64) -> Self {
        Jitter { state: seed }
    }

    /// A generator seeded from the standard library's random hash keys (random per process
    /// and per thread) and a process-wide counter.
    pub fn from_entropy() -> Self {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let seed = RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed));
        Jitter::seeded(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1]`.
    pub fn unit(&mut self) -> f64 {
        // 53 random bits over 2^53 - 1: both ends reachable, as full jitter's interval is closed.
        (self.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64
    }
}

/// Error codes that mean "the same request may succeed later", whichever service sends them
/// (each name is only ever sent by services for which it means that).
const RETRYABLE_CODES: &[&str] = &[
    // Throttling.
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException",
    "EC2ThrottledException",
    // Transient faults.
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServiceException",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    // Glue: "the operation timed out".
    "OperationTimeoutException",
    // S3: another conditional write of the key was in progress; AWS asks to retry.
    "ConditionalRequestConflict",
];

/// Whether an answer with `status` and error `code` (empty if none) is worth retrying.
pub fn is_retryable(status: u16, code: &str) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504) || RETRYABLE_CODES.contains(&code)
}

/// Whether a failed attempt with this answer may still have been carried out by the service:
/// a 5xx says nothing about that (a 4xx, throttling included, says it was not).
pub fn outcome_unknown(status: u16) -> bool {
    status >= 500
}

/// The error code of an AWS error answer, if any: the `x-amzn-ErrorType` header (JSON
/// protocols), the JSON body's `__type` or `code`, or the `<Code>` of S3's XML. A
/// `namespace#Name` or `Name:url` form is reduced to `Name`.
pub fn error_code(error_type_header: Option<&str>, body: &[u8]) -> String {
    let raw = match error_type_header {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => body_error_code(body),
    };
    let name = raw.rsplit('#').next().unwrap_or("");
    name.split(':').next().unwrap_or("").trim().to_string()
}

fn body_error_code(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        return ["__type", "code", "Code"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .unwrap_or("")
            .to_string();
    }
    let text = String::from_utf8_lossy(body);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_transient_answers_are_retried() {
        let s3 = |code: &str| format!("<Error><Code>{code}</Code><Message>m</Message></Error>");
        // S3.
        for (status, body) in [
            (503, s3("SlowDown")),
            (503, String::new()),
            (500, s3("InternalError")),
            (400, s3("RequestTimeout")),
            (409, s3("ConditionalRequestConflict")),
        ] {
            let code = error_code(None, body.as_bytes());
            assert!(is_retryable(status, &code), "{status} {body}");
        }
        // Lambda: 429 and any of its 5xx (502 is how it reports EC2 and ENI limits).
        let lambda = br#"{"Type":"User","message":"Rate Exceeded."}"#;
        let code = error_code(Some("TooManyRequestsException"), lambda);
        assert_eq!(code, "TooManyRequestsException");
        assert!(is_retryable(429, &code));
        for status in [500, 502, 503, 504] {
            assert!(is_retryable(status, ""), "{status}");
        }
        // Glue (JSON 1.1): throttling is a 400.
        for body in [
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            r#"{"__type":"com.amazonaws.glue#ThrottlingException","message":"x"}"#,
            r#"{"__type":"InternalServiceException"}"#,
            r#"{"__type":"OperationTimeoutException"}"#,
        ] {
            let code = error_code(None, body.as_bytes());
            assert!(is_retryable(400, &code), "{body}: {code:?}");
        }
        assert_eq!(
            error_code(
                Some("ThrottlingException:http://internal.amazon.com/coral/"),
                b""
            ),
            "ThrottlingException"
        );
    }

    #[test]
    fn answers_are_not_retried() {
        let s3 = |code: &str| format!("<Error><Code>{code}</Code></Error>");
        for (status, body) in [
            (403, s3("AccessDenied")),
            (403, s3("SignatureDoesNotMatch")),
            (404, s3("NoSuchKey")),
            (412, s3("PreconditionFailed")),
            (400, s3("InvalidArgument")),
            (501, s3("NotImplemented")),
            (400, r#"{"__type":"EntityNotFoundException"}"#.into()),
            (400, r#"{"__type":"AlreadyExistsException"}"#.into()),
            (400, r#"{"__type":"InvalidInputException"}"#.into()),
            (
                404,
                r#"{"Type":"User","message":"Function not found"}"#.into(),
            ),
            (413, r#"{"Type":"User"}"#.into()),
            (200, String::new()),
            (202, String::new()),
        ] {
            let code = error_code(None, body.as_bytes());
            assert!(!is_retryable(status, &code), "{status} {body}");
        }
    }

    #[test]
    fn only_5xx_leaves_the_outcome_open() {
        assert!(outcome_unknown(500) && outcome_unknown(503) && outcome_unknown(504));
        assert!(!outcome_unknown(429) && !outcome_unknown(400) && !outcome_unknown(412));
    }

    #[test]
    fn the_environment_can_shorten_the_retries() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let d = RetryPolicy::default();
        assert_eq!(RetryPolicy::from_vars(d, vars(&[])), Ok(d));
        let p = RetryPolicy::from_vars(
            d,
            vars(&[
                ("AWS_MAX_ATTEMPTS", "3"),
                ("SWEEP_AWS_RETRY_BUDGET_MS", " 2500 "),
            ]),
        )
        .unwrap();
        assert_eq!((p.max_attempts, p.budget), (3, Duration::from_millis(2500)));
        assert_eq!((p.base, p.cap), (d.base, d.cap));
        for bad in [
            &[("AWS_MAX_ATTEMPTS", "0")][..],
            &[("AWS_MAX_ATTEMPTS", "21")],
            &[("AWS_MAX_ATTEMPTS", "three")],
            &[("SWEEP_AWS_RETRY_BUDGET_MS", "-1")],
            &[("SWEEP_AWS_RETRY_BUDGET_MS", "900001")],
        ] {
            let e = RetryPolicy::from_vars(d, vars(bad)).unwrap_err();
            assert!(e.contains(bad[0].0), "{e}");
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        let ms: Vec<u128> = (0..9).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(
            ms,
            [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        // No overflow for absurd retry numbers or bases.
        assert_eq!(p.ceiling(u32::MAX), p.cap);
        let huge = RetryPolicy {
            base: Duration::from_secs(u64::MAX / 2),
            ..p
        };
        assert_eq!(huge.ceiling(40), p.cap);
    }

    #[test]
    fn delays_are_full_jitter_within_the_ceiling() {
        let p = RetryPolicy::default();
        let mut jitter = Jitter::seeded(7);
        for retry in 0..8 {
            let ceiling = p.ceiling(retry);
            let delays: Vec<Duration> = (0..2000).map(|_| p.delay(retry, &mut jitter)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Spread over the whole interval: some in the lowest and highest tenth, mean
            // about half the ceiling.
            assert!(delays.iter().any(|d| *d < ceiling / 10), "retry {retry}");
            assert!(
                delays.iter().any(|d| *d > ceiling * 9 / 10),
                "retry {retry}"
            );
            let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
            assert!(
                mean > ceiling * 4 / 10 && mean < ceiling * 6 / 10,
                "{mean:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_and_calls_differ() {
        let p = RetryPolicy::default();
        let run = |mut j: Jitter| -> Vec<Duration> { (0..6).map(|n| p.delay(n, &mut j)).collect() };
        assert_eq!(run(Jitter::seeded(42)), run(Jitter::seeded(42)));
        assert_ne!(run(Jitter::seeded(42)), run(Jitter::seeded(43)));
        // Two clients retrying together do not sleep in lock step.
        assert_ne!(run(Jitter::from_entropy()), run(Jitter::from_entropy()));
        let mut j = Jitter::seeded(1);
        for _ in 0..10_000 {
            let u = j.unit();
            assert!((0.0..=1.0).contains(&u));
        }
    }

    #[test]
    fn attempts_and_budget_bound_the_retries() {
        let p = RetryPolicy::default();
        let mut j = Jitter::seeded(3);
        assert_eq!(
            p.next_delay(0, Duration::ZERO, &mut j),
            Some(Duration::ZERO)
        );
        for attempts in 1..p.max_attempts {
            let d = p.next_delay(attempts, Duration::ZERO, &mut j).unwrap();
            assert!(d <= p.ceiling(attempts - 1));
        }
        assert_eq!(p.next_delay(p.max_attempts, Duration::ZERO, &mut j), None);
        // Out of time: no retry, whatever the attempt.
        for attempts in 1..p.max_attempts {
            let late = p.budget + Duration::from_millis(1);
            assert_eq!(p.next_delay(attempts, late, &mut j), None);
        }
        let tight = RetryPolicy {
            budget: Duration::from_millis(150),
            ..p
        };
        // The sum of the sleeps of a whole call stays within the budget.
        for seed in 0..200 {
            let mut j = Jitter::seeded(seed);
            let mut slept = Duration::ZERO;
            let mut attempts = 1;
            while let Some(d) = tight.next_delay(attempts, slept, &mut j) {
                slept += d;
                attempts += 1;
            }
            assert!(slept <= tight.budget && attempts <= tight.max_attempts);
        }
        assert_eq!(
            RetryPolicy::never().next_delay(1, Duration::ZERO, &mut j),
            None
        );
    }
}
