//! The options every stage takes besides its `type`: how the engine runs
//! it (name, concurrency, order, timeout, retries, rate, fail-fast).

use std::num::NonZeroUsize;
use std::sync::Arc;

use serde::Deserialize;
use serde_spanned::Spanned;
use weir::stage::Stage;
use weir_core::limit::RateLimit;

use crate::config::{HumanDuration, HumanRate, RetryOptions};
use crate::record::Payload;

/// The generic options of a `[[stage]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageOptions {
    /// The stage's name in the live view and the reports (default: its type).
    pub(crate) name: Option<String>,
    /// Records in work at once (default 1).
    pub(crate) concurrency: Option<Spanned<NonZeroUsize>>,
    /// Emit in input order even with concurrency.
    #[serde(default)]
    pub(crate) ordered: bool,
    /// Give up on an attempt after this long (the record is retried or
    /// dead-lettered).
    pub(crate) timeout: Option<HumanDuration>,
    /// Retry failed attempts: `{ max_attempts = 3, backoff = "100ms" }`.
    pub(crate) retries: Option<RetryOptions>,
    /// Start at most this many attempts per unit of time.
    pub(crate) rate: Option<Spanned<HumanRate>>,
    /// A record failing here stops the run instead of being dead-lettered.
    #[serde(default)]
    pub(crate) fail_fast: bool,
}

impl StageOptions {
    /// Whether any option about running the stage (all but `name`) is set.
    pub(crate) fn sets_run_options(&self) -> bool {
        self.concurrency.is_some()
            || self.ordered
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.rate.is_some()
            || self.fail_fast
    }

    /// `stage` run as these options say.
    pub(crate) fn apply(&self, mut stage: Stage<Payload, Payload>) -> Stage<Payload, Payload> {
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
