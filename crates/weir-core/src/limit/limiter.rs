//! [`Limiter`]: what every limiter is, and the one implementation of
//! running an operation under one (`run`, `run_with_timeout`), as tower's
//! `Service` is for middleware: a limiter implements [`Limiter::acquire`]
//! (and, if it learns from outcomes, the two hooks), and gets the rest.

use std::future::Future;

use super::timeout::{run_limited, OpTimeout, TimedOut};

/// Something to wait for before an operation: a concurrency permit, a turn
/// of a rate. Bring it into scope (`use weir_core::limit::Limiter`) to call
/// [`Limiter::run`] and [`Limiter::run_with_timeout`] on any limiter.
///
/// ```
/// use std::time::Duration;
/// use weir_core::limit::{ConcurrencyLimit, Limiter, Rate, RateLimit};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// /// Runs `work` under whichever limiter it is given.
/// async fn limited(limiter: &impl Limiter, work: u32) -> u32 {
///     limiter.run(async move { work * 2 }).await
/// }
/// assert_eq!(limited(&ConcurrencyLimit::new(1), 2).await, 4);
/// assert_eq!(limited(&RateLimit::new(Rate::per_second(10)), 3).await, 6);
/// # });
/// ```
pub trait Limiter {
    /// What is held while the operation runs (`()` for a rate: nothing).
    type Permit;

    /// Waits until the limiter lets one more operation start.
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, nothing
    /// was taken (the caller loses only its place in the line).
    fn acquire(&self) -> impl Future<Output = Self::Permit> + Send;

    /// The operation under `permit` finished in time. By default the permit
    /// is released.
    fn finished(permit: Self::Permit) {
        drop(permit);
    }

    /// The operation under `permit` ran out of time and was cancelled. By
    /// default the permit is released.
    fn work_timed_out(permit: Self::Permit) {
        drop(permit);
    }

    /// Runs `work` once the limiter allows it (holding the permit, if any,
    /// until it is done).
    ///
    /// # Cancel safety
    /// Dropping the future cancels the work (if started) and releases the
    /// permit (if taken); neither hook is called.
    fn run<F: Future>(&self, work: F) -> impl Future<Output = F::Output> {
        async move {
            let permit = self.acquire().await;
            let output = work.await;
            Self::finished(permit);
            output
        }
    }

    /// As [`Limiter::run`], giving up after `timeout`; see [`OpTimeout`] for
    /// which parts it covers (a `Duration` covers both the wait and the
    /// work). Work that runs out of time is cancelled and its permit handed
    /// to [`Limiter::work_timed_out`]; a wait that runs out took nothing.
    ///
    /// # Errors
    /// [`TimedOut`], whose [`phase`](TimedOut::phase) says whether the wait
    /// for the limiter or the work ran out of time.
    ///
    /// # Cancel safety
    /// As [`Limiter::run`].
    fn run_with_timeout<F: Future>(
        &self,
        work: F,
        timeout: impl Into<OpTimeout>,
    ) -> impl Future<Output = Result<F::Output, TimedOut>> {
        let timeout = timeout.into();
        async move {
            match run_limited(self.acquire(), work, timeout).await {
                Ok((permit, output)) => {
                    Self::finished(permit);
                    Ok(output)
                }
                Err(expired) => {
                    if let Some(permit) = expired.permit {
                        Self::work_timed_out(permit);
                    }
                    Err(expired.error)
                }
            }
        }
    }
}
