//! The futures returned by [`Queue::put`](super::Queue::put),
//! [`Queue::get`](super::Queue::get) and [`Queue::join`](super::Queue::join).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::core::{Admission, Shared, WaitKind};
use super::error::PutError;

/// Polls `poll` within tokio's cooperative budget, as tokio's own channels
/// do: a consumer that keeps finding the queue ready still yields to the
/// scheduler once its budget is spent, so a tight consumer loop cannot
/// starve the other tasks of its worker thread. Outside a tokio runtime
/// there is no budget and this is a plain poll.
///
/// Only `get` is budgeted: a producer yields anyway whenever the queue is
/// full, and budgeting `put` as well measured slower in every shape
/// (1P/1C cap 1024: ~4.8 M items/s with both, ~9 M/s with `get` alone;
/// `weir-bench child queue weir 1 1 1024 1000000`).
fn cooperatively<R>(
    cx: &mut Context<'_>,
    poll: impl FnOnce(&mut Context<'_>) -> Poll<R>,
) -> Poll<R> {
    let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
    let result = poll(cx);
    if result.is_ready() {
        coop.made_progress();
    }
    result
}

/// A registration in one of the queue's wait lists.
struct Wait {
    key: usize,
    since: Instant,
}

/// Future of [`Queue::put`](super::Queue::put).
#[must_use = "futures do nothing unless polled; the item is dropped with this future"]
pub struct Put<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    wait: Option<Wait>,
}

// The item is never pinned: it is moved into the queue by value.
impl<T> Unpin for Put<'_, T> {}

impl<'a, T> Put<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>, item: T) -> Self {
        Put {
            shared,
            item: Some(item),
            wait: None,
        }
    }

    /// Gives up waiting and returns the item if it was not queued yet. A slot
    /// granted to this put and not used is passed to the next putter.
    pub(super) fn abandon(&mut self) -> Option<T> {
        if let Some(wait) = self.wait.take() {
            let mut state = self.shared.lock();
            let was_granted = state.putters.cancel(wait.key);
            let wake = if was_granted && !state.shut_down {
                state.granted_putters -= 1;
                self.shared.grant_to_putter(&mut state)
            } else {
                None
            };
            drop(state);
            self.shared.end_wait(wait.since, WaitKind::Put);
            if let Some(waker) = wake {
                waker.wake();
            }
        }
        self.item.take()
    }
}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_put(cx)
    }
}

impl<T> Put<'_, T> {
    fn poll_put(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), PutError<T>>> {
        let this = self.get_mut();
        let shared = this.shared;
        let item = this.item.take().expect("Put polled after completion");
        let mut state = shared.lock();
        if let Some(wait) = &this.wait {
            if state.shut_down {
                state.putters.cancel(wait.key);
            } else if state.putters.poll_notified(wait.key, cx.waker()) {
                state.granted_putters -= 1;
                let wake = shared.enqueue(&mut state, item);
                drop(state);
                shared.end_wait(this.wait.take().expect("waiting").since, WaitKind::Put);
                if let Some(waker) = wake {
                    waker.wake();
                }
                return Poll::Ready(Ok(()));
            } else {
                this.item = Some(item);
                return Poll::Pending;
            }
            drop(state);
            shared.end_wait(this.wait.take().expect("waiting").since, WaitKind::Put);
            return Poll::Ready(Err(PutError::Closed(item)));
        }
        match shared.admit(&mut state, item) {
            Admission::Done(after) => {
                drop(state);
                after.run(shared);
                Poll::Ready(Ok(()))
            }
            Admission::Closed(item) => Poll::Ready(Err(PutError::Closed(item))),
            Admission::Full(item) if shared.overflow == super::Overflow::Reject => {
                super::stats::Counters::add(&shared.counters.rejected, 1);
                Poll::Ready(Err(PutError::Full(item)))
            }
            Admission::Full(item) => {
                let key = state.putters.push(cx.waker());
                drop(state);
                this.wait = Some(Wait {
                    key,
                    since: shared.begin_wait(WaitKind::Put),
                });
                this.item = Some(item);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// Future of [`Queue::get`](super::Queue::get).
#[must_use = "futures do nothing unless polled"]
pub struct Get<'a, T> {
    shared: &'a Shared<T>,
    wait: Option<Wait>,
}

impl<'a, T> Get<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        Get { shared, wait: None }
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        cooperatively(cx, |cx| self.poll_get(cx))
    }
}

impl<T> Get<'_, T> {
    fn poll_get(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let shared = this.shared;
        let mut state = shared.lock();
        if let Some(wait) = &this.wait {
            if state.shut_down {
                state.getters.cancel(wait.key);
            } else if state.getters.poll_notified(wait.key, cx.waker()) {
                state.granted_getters -= 1;
            } else {
                return Poll::Pending;
            }
            let taken = shared.dequeue(&mut state);
            drop(state);
            shared.end_wait(this.wait.take().expect("waiting").since, WaitKind::Get);
            return Poll::Ready(taken.map(wake_and_return));
        }
        if shared.has_ungranted_item(&state) {
            let taken = shared.dequeue(&mut state);
            drop(state);
            return Poll::Ready(taken.map(wake_and_return));
        }
        if state.shut_down {
            return Poll::Ready(None);
        }
        let key = state.getters.push(cx.waker());
        drop(state);
        this.wait = Some(Wait {
            key,
            since: shared.begin_wait(WaitKind::Get),
        });
        Poll::Pending
    }
}

fn wake_and_return<T>((item, wake): (T, Option<std::task::Waker>)) -> T {
    if let Some(waker) = wake {
        waker.wake();
    }
    item
}

impl<T> Drop for Get<'_, T> {
    /// A getter dropped after an item was granted to it passes the grant to
    /// the next getter: the item stays queued, nothing is lost.
    fn drop(&mut self) {
        let Some(wait) = self.wait.take() else {
            return;
        };
        let mut state = self.shared.lock();
        let was_granted = state.getters.cancel(wait.key);
        let wake = if was_granted && !state.shut_down {
            state.granted_getters -= 1;
            self.shared.grant_to_getter(&mut state)
        } else {
            None
        };
        drop(state);
        self.shared.end_wait(wait.since, WaitKind::Get);
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

/// Future of [`Queue::join`](super::Queue::join).
#[must_use = "futures do nothing unless polled"]
pub struct Join<'a, T> {
    shared: &'a Shared<T>,
    key: Option<usize>,
}

impl<'a, T> Join<'a, T> {
    pub(super) fn new(shared: &'a Shared<T>) -> Self {
        Join { shared, key: None }
    }
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.shared.lock();
        if let Some(key) = this.key {
            if state.joiners.poll_notified(key, cx.waker()) {
                this.key = None;
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        if state.unfinished == 0 {
            return Poll::Ready(());
        }
        this.key = Some(state.joiners.push(cx.waker()));
        Poll::Pending
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.lock().joiners.cancel(key);
        }
    }
}
