//! The options every stage takes besides its `type`: how the engine runs
//! it (name, concurrency, order, timeout, retries, rate, fail-fast).

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;

use serde::Deserialize;
use serde_spanned::Spanned;
use weir::stage::{RetryPolicy, Stage};
use weir_core::limit::RateLimit;

use crate::config::{HumanDuration, HumanRate, Text};
use crate::record::Payload;

/// The generic options of a `[[stage]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageOptions {
    /// The stage's name in the live view and the reports (default: its type).
    pub name: Option<Text>,
    /// Records in work at once (default 1).
    pub concurrency: Option<Spanned<NonZeroUsize>>,
    /// Emit in input order even with concurrency.
    #[serde(default)]
    pub ordered: bool,
    /// Give up on an attempt after this long (the record is retried or
    /// dead-lettered).
    pub timeout: Option<HumanDuration>,
    /// Retry failed attempts: `{ max_attempts = 3, backoff = "100ms" }`.
    pub retries: Option<RetryOptions>,
    /// Start at most this many attempts per unit of time.
    pub rate: Option<Spanned<HumanRate>>,
    /// A record failing here stops the run instead of being dead-lettered.
    #[serde(default)]
    pub fail_fast: bool,
}

/// `retries = { max_attempts = 3, backoff = "100ms", max_backoff = "10s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOptions {
    /// Attempts in all, the first included.
    pub max_attempts: NonZeroU32,
    /// The scale of the first retry's delay (exponential, jittered).
    pub backoff: Option<HumanDuration>,
    /// The longest delay between two attempts.
    pub max_backoff: Option<HumanDuration>,
}

impl StageOptions {
    /// The keys of a `[[stage]]` table these options take.
    pub const KEYS: &'static [&'static str] = &[
        "name",
        "concurrency",
        "ordered",
        "timeout",
        "retries",
        "rate",
        "fail_fast",
    ];

    /// Whether any option about running the stage (all but `name`) is set.
    pub fn sets_run_options(&self) -> bool {
        self.concurrency.is_some()
            || self.ordered
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.rate.is_some()
            || self.fail_fast
    }

    /// `stage` run as these options say.
    pub fn apply(&self, mut stage: Stage<Payload, Payload>) -> Stage<Payload, Payload> {
        if let Some(concurrency) = &self.concurrency {
            stage = stage.concurrency(concurrency.get_ref().get());
        }
        if self.ordered {
            stage = stage.ordered();
        }
        if let Some(timeout) = self.timeout {
            stage = stage.timeout(timeout.0);
        }
        if let Some(retries) = &self.retries {
            stage = stage.retry(retries.policy());
        }
        if let Some(rate) = &self.rate {
            stage = stage.rate_limit(Arc::new(RateLimit::new(rate.get_ref().0)));
        }
        if self.fail_fast {
            stage = stage.fail_fast();
        }
        stage
    }
}

impl RetryOptions {
    /// The engine's retry policy.
    pub fn policy(&self) -> RetryPolicy {
        let mut policy = RetryPolicy::new(self.max_attempts.get());
        if let Some(backoff) = self.backoff {
            policy = policy.base_delay(backoff.0);
        }
        if let Some(max_backoff) = self.max_backoff {
            policy = policy.max_delay(max_backoff.0);
        }
        policy
    }
}
