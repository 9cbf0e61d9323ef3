//! When and how soon to try a failed record again ([`RetryPolicy`]), and
//! the retry loop every component runs ([`retrying`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::attempt::AttemptError;
use crate::metrics::stage::StageMetrics;

/// Decides whether a failed attempt may be retried.
type RetryPredicate = Arc<dyn Fn(&AttemptError) -> bool + Send + Sync>;

/// Retries with exponential backoff and full jitter: the delay before retry
/// `n` (1-based) is uniform in `[0, min(max_delay, base * 2^(n-1))]`.
///
/// ```
/// use std::time::Duration;
/// use weir::stage::RetryPolicy;
/// let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(10));
/// assert_eq!(policy.max_attempts(), 3);
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    retryable: Option<RetryPredicate>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("retryable", &self.retryable.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in all (1 means no retry), 100 ms base
    /// delay, 10 s cap, every error retryable.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            retryable: None,
        }
    }

    /// The delay scale of the first retry.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest delay between two attempts.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Retry only errors for which `predicate` is true.
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&AttemptError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retryable = Some(Arc::new(predicate));
        self
    }

    /// Attempts allowed in all.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// After failed attempt number `attempt` (1-based) with `error`: the delay
    /// before the next attempt, or `None` to give up.
    pub fn next_delay(&self, attempt: u32, error: &AttemptError) -> Option<Duration> {
        if attempt >= self.max_attempts || !self.retryable.as_ref().is_none_or(|p| p(error)) {
            return None;
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        Some(ceiling.mul_f64(rand::rng().random::<f64>()))
    }
}

/// One piece of work that may be tried again: a stage function's call on a
/// record, a sink's write of one.
pub(crate) trait Retryable {
    /// What a successful attempt gives.
    type Output;

    /// Makes one attempt.
    fn attempt(&mut self) -> impl Future<Output = Result<Self::Output, AttemptError>> + Send;
}

/// The retry loop of every component (stages and sinks): attempts `work`
/// until it succeeds or `policy` gives up (with no policy, after the first
/// failure), counting each failure in `metrics` (`errors`, and `timeouts`
/// for a timed-out attempt), each retry in `retries`, and sleeping the
/// policy's backoff between attempts. Returns the attempts made and the
/// last result.
pub(crate) async fn retrying<W: Retryable>(
    policy: Option<&RetryPolicy>,
    metrics: &StageMetrics,
    mut work: W,
) -> (u32, Result<W::Output, AttemptError>) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match work.attempt().await {
            Ok(out) => return (attempts, Ok(out)),
            Err(error) => error,
        };
        StageMetrics::add(&metrics.errors, 1);
        if matches!(error, AttemptError::TimedOut(_)) {
            StageMetrics::add(&metrics.timeouts, 1);
        }
        match policy.and_then(|policy| policy.next_delay(attempts, &error)) {
            Some(delay) => {
                StageMetrics::add(&metrics.retries, 1);
                tokio::time::sleep(delay).await;
            }
            None => return (attempts, Err(error)),
        }
    }
}
