//! What the server saw: live counters, and a log of every request per key
//! (to check, e.g., that a client waited for the `Retry-After` it was given).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::time::Instant;

use crate::faults::Fault;

/// One request as the server answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// The server's sequence number for it (0-based, in arrival order).
    pub seq: u64,
    /// When it arrived.
    pub arrived: Instant,
    /// When the answer went out (for a hang: when the server gave up holding
    /// it; for a reset: when the connection was closed).
    pub answered: Instant,
    /// The status sent; `None` for a reset.
    pub status: Option<u16>,
    /// The `Retry-After` sent with it, if any.
    pub retry_after: Option<Duration>,
    /// The fault injected into it.
    pub fault: Fault,
}

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests received.
    pub requests: u64,
    /// Requests in service now (being worked on under the latency model).
    pub in_service: usize,
    /// The most requests ever in service at once.
    pub peak_in_service: usize,
    /// Responses sent, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Connections closed without a response.
    pub resets: u64,
    /// Requests held past the client's timeout (counted when the hold
    /// starts).
    pub hangs: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    in_service: AtomicUsize,
    peak_in_service: AtomicUsize,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    statuses: BTreeMap<u16, u64>,
    resets: u64,
    hangs: u64,
    by_key: HashMap<String, Vec<RequestLog>>,
    /// Requests seen per key, answered or not (the fault draw's counter).
    seen: HashMap<String, u64>,
}

impl Stats {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock()
    }

    /// Counts a new request with `key`: its sequence number and how many
    /// requests with that key came before it.
    pub(crate) fn arrive(&self, key: &str) -> (u64, u64) {
        let seq = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut log = self.log();
        let seen = log.seen.entry(key.to_owned()).or_default();
        let nth = *seen;
        *seen += 1;
        (seq, nth)
    }

    /// Puts a request in service; returns how many are in service with it.
    pub(crate) fn enter(&self) -> InService<'_> {
        let now = self.in_service.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_service.fetch_max(now, Ordering::Relaxed);
        InService { stats: self, now }
    }

    /// Counts a request the server starts holding.
    pub(crate) fn hang(&self) {
        self.log().hangs += 1;
    }

    pub(crate) fn answered(&self, key: String, entry: RequestLog) {
        let mut log = self.log();
        match (entry.status, entry.fault) {
            (_, Fault::Hang) => {}
            (None, _) => log.resets += 1,
            (Some(status), _) => *log.statuses.entry(status).or_default() += 1,
        }
        log.by_key.entry(key).or_default().push(entry);
    }

    pub(crate) fn snapshot(&self) -> ServerStats {
        let log = self.log();
        ServerStats {
            requests: self.requests.load(Ordering::Relaxed),
            in_service: self.in_service.load(Ordering::Relaxed),
            peak_in_service: self.peak_in_service.load(Ordering::Relaxed),
            statuses: log.statuses.clone(),
            resets: log.resets,
            hangs: log.hangs,
        }
    }

    pub(crate) fn requests_by_key(&self) -> HashMap<String, Vec<RequestLog>> {
        let mut by_key = self.log().by_key.clone();
        for requests in by_key.values_mut() {
            requests.sort_by_key(|r| r.arrived);
        }
        by_key
    }
}

/// A request in service; leaves service when dropped.
pub(crate) struct InService<'a> {
    stats: &'a Stats,
    /// Requests in service when this one entered, itself included.
    pub(crate) now: usize,
}

impl Drop for InService<'_> {
    fn drop(&mut self) {
        self.stats.in_service.fetch_sub(1, Ordering::Relaxed);
    }
}
