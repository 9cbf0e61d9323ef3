//! Waits that end when they should: the server's latency model needs them.
//!
//! Tokio's timer has a resolution of one millisecond: a deadline is rounded
//! up to the next tick, and the runtime parks in `epoll_wait`, whose timeout
//! is in whole milliseconds too. Measured on this server (capacity 32,
//! `--latency-ms 20`, one sequential keep-alive client, 200-300 requests,
//! 0.25 ms a round trip with `--latency-ms 0`): with `tokio::time::sleep`
//! a 20 ms request was answered in 21.8 ms (median), so a server
//! configured for 32 / 20 ms = 1600 requests/s could serve at most about
//! 1470/s, and every benchmark ratio to its capacity was measured against
//! a server slower than it said. Here one thread keeps the deadlines and
//! sleeps on a futex with a nanosecond timeout (`recv_timeout`): the same
//! request is answered in 20.8 ms (median), the wait itself a fraction of
//! a millisecond late (waking the thread, then the task). Hand-written:
//! the crates that do this for tokio (`tokio-timerfd`, `tokio-hrtime`)
//! are young 0.x crates that register a timer file descriptor per wait
//! (up to twice the capacity here, one per request in service); one thread
//! and a heap serve every wait in ~50 lines, and only the test server
//! uses them.
//!
//! The example checks that a wait ends, not how precisely (that is a
//! measurement, in `weir-bench http`, not a test):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::{Duration, Instant};
//! let start = Instant::now();
//! weir_testserver::precise_sleep(Duration::from_millis(5)).await;
//! assert!(start.elapsed() >= Duration::from_millis(5));
//! # }
//! ```

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A wait: its deadline, and what to fire then.
struct Waiter {
    deadline: Instant,
    fire: oneshot::Sender<()>,
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.deadline.cmp(&other.deadline)
    }
}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Waiter {}

/// The timer thread's inbox; the thread starts on first use.
fn timer() -> &'static Sender<Waiter> {
    static TIMER: OnceLock<Sender<Waiter>> = OnceLock::new();
    TIMER.get_or_init(|| {
        let (sender, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("precise-timer".into())
            .spawn(move || keep_time(&inbox))
            .expect("cannot start the timer thread");
        sender
    })
}

/// The timer thread: fire what is due, then sleep until the next deadline
/// or a new wait, whichever comes first.
fn keep_time(inbox: &Receiver<Waiter>) {
    let mut waiting: BinaryHeap<Reverse<Waiter>> = BinaryHeap::new();
    loop {
        let now = Instant::now();
        while waiting.peek().is_some_and(|next| next.0.deadline <= now) {
            if let Some(Reverse(due)) = waiting.pop() {
                let _ = due.fire.send(());
            }
        }
        let next = match waiting.peek() {
            Some(next) => {
                inbox.recv_timeout(next.0.deadline.saturating_duration_since(Instant::now()))
            }
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(waiter) => waiting.push(Reverse(waiter)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Waits `duration`, ending a fraction of a millisecond after it (see the
/// module docs); falls back to tokio's timer if the timer thread is gone.
pub async fn precise_sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    let (fire, fired) = oneshot::channel();
    let sent = timer().send(Waiter { deadline, fire });
    if sent.is_err() || fired.await.is_err() {
        tokio::time::sleep_until(deadline.into()).await;
    }
}
