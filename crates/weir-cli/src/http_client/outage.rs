//! A service that is down is backpressure, not a reason to fail records.
//!
//! `429`, `503`, a refused connection and a connection closed before any
//! response say something about the service, not about the record (see
//! [`AttemptFailure::is_service_signal`](super::call::AttemptFailure)).
//! After [`PAUSE_AFTER`] of them in a row with no other answer between,
//! the caller **pauses**: no request goes out but one probe at a time,
//! spaced by the service's `Retry-After` or, without one, by an exponential
//! backoff with jitter. Every other call waits at the gate, so the
//! connector's records wait, its input link fills, and the pipeline pushes
//! back up to its source. Any answer that is not such a signal ends the
//! pause, and the waiting calls go on.
//!
//! A call that has waited at a closed gate longer than `max_outage` (if the
//! user set one) gives up with "service unavailable for longer than
//! max_outage"; without it, calls wait without end.

use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Service signals in a row, with no other answer between, that pause the
/// caller.
pub(crate) const PAUSE_AFTER: u32 = 8;

/// The first probe backoff without a `Retry-After`.
const FIRST_PROBE_BACKOFF: Duration = Duration::from_millis(250);

/// The outage state of one caller, shared by its calls.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Service signals in a row.
    signals: u32,
    /// Set while paused.
    paused: Option<Pause>,
}

#[derive(Debug, Clone)]
struct Pause {
    since: Instant,
    /// What the last signal was, e.g. `HTTP 503 from 127.0.0.1:8080`.
    reason: String,
    next_probe: Instant,
    probing: bool,
    /// Backoff for the next probe when the service gives no `Retry-After`.
    backoff: Duration,
}

/// What the gate lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The service is up: a normal attempt.
    Normal,
    /// The one probe of a paused caller: report its answer.
    Probe,
}

/// The caller has been paused longer than its `max_outage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutageTooLong;

/// The pause as people see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PauseStatus {
    /// The last signal, e.g. `HTTP 503 from 127.0.0.1:8080`.
    pub(crate) reason: String,
    /// How long it has lasted.
    pub(crate) for_: Duration,
    /// Time until the next probe may go (zero while one is out).
    pub(crate) next_probe_in: Duration,
}

impl std::fmt::Display for PauseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "paused {:.0?}: {}, next probe in {:.0?}",
            round_to_tenths(self.for_),
            self.reason,
            round_to_tenths(self.next_probe_in)
        )
    }
}

fn round_to_tenths(duration: Duration) -> Duration {
    Duration::from_millis((duration.as_millis() as u64).div_ceil(100) * 100)
}

impl Outage {
    /// Waits until a call may go: at once while the service is up; while
    /// paused, until this call is the probe. Gives up once the pause has
    /// lasted `max_outage`. Cancel-safe: a cancelled probe lets another go.
    pub(crate) async fn gate(&self, max_outage: Option<Duration>) -> Result<Pass, OutageTooLong> {
        loop {
            let changed = self.changed.notified();
            let wake_at = {
                let mut state = self.state.lock();
                let Some(pause) = &mut state.paused else {
                    return Ok(Pass::Normal);
                };
                let now = Instant::now();
                let deadline = max_outage.map(|max| pause.since + max);
                if deadline.is_some_and(|deadline| now >= deadline) {
                    return Err(OutageTooLong);
                }
                if !pause.probing && now >= pause.next_probe {
                    pause.probing = true;
                    return Ok(Pass::Probe);
                }
                let next = if pause.probing {
                    None
                } else {
                    Some(pause.next_probe)
                };
                match (next, deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// An answer that says the service is up (any but a service signal).
    pub(crate) fn answered(&self) {
        let mut state = self.state.lock();
        state.signals = 0;
        if state.paused.take().is_some() {
            drop(state);
            self.changed.notify_waiters();
        }
    }

    /// A service signal: `reason` says what and from where; `retry_after`
    /// is the service's own, if it gave one; `pass` is how the attempt that
    /// got it went through the gate.
    pub(crate) fn signal(&self, reason: String, retry_after: Option<Duration>, pass: Pass) {
        let mut state = self.state.lock();
        state.signals = state.signals.saturating_add(1);
        let now = Instant::now();
        let jitter = |backoff: Duration| backoff.mul_f64(0.5 + rand::rng().random::<f64>() / 2.0);
        let pause_now = state.signals >= PAUSE_AFTER;
        match &mut state.paused {
            // A failed probe: the next one after Retry-After or backoff.
            Some(pause) if pass == Pass::Probe => {
                pause.next_probe = now + retry_after.unwrap_or_else(|| jitter(pause.backoff));
                pause.backoff = (pause.backoff * 2).min(Duration::from_secs(30));
                pause.probing = false;
                pause.reason = reason;
            }
            // An attempt from before the pause: it changes no schedule.
            Some(pause) => {
                pause.reason = reason;
                return;
            }
            None if pause_now => {
                let wait = retry_after.unwrap_or_else(|| jitter(FIRST_PROBE_BACKOFF));
                state.paused = Some(Pause {
                    since: now,
                    reason,
                    next_probe: now + wait,
                    probing: false,
                    backoff: FIRST_PROBE_BACKOFF * 2,
                });
            }
            None => return,
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// A probe that ended without an answer (cancelled): another may go.
    pub(crate) fn probe_abandoned(&self) {
        if let Some(pause) = &mut self.state.lock().paused {
            pause.probing = false;
        }
        self.changed.notify_waiters();
    }

    /// The pause, if the caller is paused.
    pub(crate) fn status(&self) -> Option<PauseStatus> {
        let state = self.state.lock();
        let pause = state.paused.as_ref()?;
        let now = Instant::now();
        Some(PauseStatus {
            reason: pause.reason.clone(),
            for_: now.saturating_duration_since(pause.since),
            next_probe_in: if pause.probing {
                Duration::ZERO
            } else {
                pause.next_probe.saturating_duration_since(now)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(outage: &Outage, n: u32, retry_after: Option<Duration>) {
        for _ in 0..n {
            outage.signal(
                "HTTP 503 from 127.0.0.1:1".into(),
                retry_after,
                Pass::Normal,
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_few_signals_do_not_pause_but_a_run_of_them_does() {
        let outage = Outage::default();
        signals(&outage, PAUSE_AFTER - 1, None);
        assert_eq!(outage.gate(None).await, Ok(Pass::Normal));
        outage.answered();
        signals(&outage, PAUSE_AFTER - 1, None);
        assert!(outage.status().is_none(), "an answer resets the run");
        signals(&outage, 1, Some(Duration::from_secs(1)));
        let status = outage.status().expect("paused");
        assert_eq!(status.reason, "HTTP 503 from 127.0.0.1:1");
        assert_eq!(status.next_probe_in, Duration::from_secs(1));
        assert_eq!(
            status.to_string(),
            "paused 0ns: HTTP 503 from 127.0.0.1:1, next probe in 1s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn while_paused_one_probe_goes_after_retry_after_and_the_rest_wait() {
        let outage = std::sync::Arc::new(Outage::default());
        signals(&outage, PAUSE_AFTER, Some(Duration::from_secs(2)));
        let start = Instant::now();
        let waiting = {
            let outage = outage.clone();
            tokio::spawn(async move { outage.gate(None).await })
        };
        assert_eq!(outage.gate(None).await, Ok(Pass::Probe));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a second call went during a probe");
        // A late answer from before the pause moves nothing.
        signals(&outage, 1, Some(Duration::from_secs(60)));
        assert!(!waiting.is_finished());
        // The probe fails: the next one waits for its Retry-After.
        let failed_probe = "HTTP 503 from 127.0.0.1:1".to_owned();
        outage.signal(failed_probe, Some(Duration::from_secs(3)), Pass::Probe);
        assert_eq!(waiting.await.unwrap(), Ok(Pass::Probe));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // This probe succeeds: everyone goes.
        outage.answered();
        assert_eq!(outage.gate(None).await, Ok(Pass::Normal));
        assert!(outage.status().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_max_outage_gives_up() {
        let outage = Outage::default();
        signals(&outage, PAUSE_AFTER, Some(Duration::from_secs(60)));
        let start = Instant::now();
        let max = Some(Duration::from_secs(10));
        assert_eq!(outage.gate(max).await, Err(OutageTooLong));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_another_go() {
        let outage = Outage::default();
        signals(&outage, PAUSE_AFTER, Some(Duration::from_millis(10)));
        assert_eq!(outage.gate(None).await, Ok(Pass::Probe));
        outage.probe_abandoned();
        assert_eq!(outage.gate(None).await, Ok(Pass::Probe));
    }
}
