//! The shared core of a queue: its state under one lock, and the rules that
//! keep waiters in FIFO order.
//!
//! Fairness works by grants. When an item arrives and a getter is waiting,
//! the oldest getter is notified and one queued item is *granted* to it:
//! counted in `granted_getters`, so that no later `get` can barge in and
//! take it. Symmetrically, a slot freed while putters wait is granted to the
//! oldest putter. A notified waiter that is dropped before it uses its grant
//! passes the grant on, which is what makes `get` cancel-safe.
//!
//! After shutdown, grants are void: every waiter is woken, putters fail,
//! getters take what is left in order and then end.

use std::collections::VecDeque;
use std::task::Waker;

use tokio::time::Instant;

use crate::sync::{lock, Mutex, MutexGuard, Ordering};

use super::policy::{DropHandler, DropReason, Dropped, Overflow};
use super::stats::{Counters, WaitClock};
use super::waiters::WaitList;

pub(crate) struct Shared<T> {
    pub(crate) state: Mutex<State<T>>,
    pub(crate) counters: Counters,
    pub(crate) capacity: Option<usize>,
    pub(crate) overflow: Overflow,
    pub(crate) on_drop: Option<DropHandler<T>>,
}

pub(crate) struct State<T> {
    pub(crate) items: VecDeque<T>,
    pub(crate) getters: WaitList,
    pub(crate) putters: WaitList,
    pub(crate) joiners: WaitList,
    /// Queued items promised to notified getters that have not taken them.
    pub(crate) granted_getters: usize,
    /// Free slots promised to notified putters that have not filled them.
    pub(crate) granted_putters: usize,
    /// Items put and not yet marked done with `task_done`.
    pub(crate) unfinished: usize,
    pub(crate) shut_down: bool,
}

/// Work to do once the lock is released: wake a waiter, hand a dropped item
/// to the user's handler. Neither must run under the lock.
#[must_use]
pub(crate) struct AfterUnlock<T> {
    pub(crate) wake: Option<Waker>,
    pub(crate) dropped: Option<Dropped<T>>,
}

impl<T> AfterUnlock<T> {
    pub(crate) fn wake(wake: Option<Waker>) -> Self {
        AfterUnlock {
            wake,
            dropped: None,
        }
    }

    pub(crate) fn run(self, shared: &Shared<T>) {
        if let Some(waker) = self.wake {
            waker.wake();
        }
        if let Some(dropped) = self.dropped {
            let handler = shared
                .on_drop
                .as_ref()
                .expect("dropping policies are only built with a handler");
            handler(dropped);
        }
    }
}

/// What an attempt to put without waiting came to.
pub(crate) enum Admission<T> {
    /// Queued, or dropped under a dropping policy (then `after` holds it).
    Done(AfterUnlock<T>),
    /// Full under `Block` or `Reject`: the item comes back.
    Full(T),
    /// Shut down: the item comes back.
    Closed(T),
}

impl<T> Shared<T> {
    pub(crate) fn new(
        capacity: Option<usize>,
        overflow: Overflow,
        on_drop: Option<DropHandler<T>>,
    ) -> Self {
        Shared {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.unwrap_or(0).min(4096)),
                getters: WaitList::default(),
                putters: WaitList::default(),
                joiners: WaitList::default(),
                granted_getters: 0,
                granted_putters: 0,
                unfinished: 0,
                shut_down: false,
            }),
            counters: Counters::new(),
            capacity,
            overflow,
            on_drop,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }

    fn free_slots(&self, state: &State<T>) -> usize {
        match self.capacity {
            Some(cap) => cap.saturating_sub(state.items.len() + state.granted_putters),
            None => usize::MAX,
        }
    }

    /// Appends an item and grants it to the oldest waiting getter, if any.
    pub(crate) fn enqueue(&self, state: &mut State<T>, item: T) -> Option<Waker> {
        state.items.push_back(item);
        state.unfinished += 1;
        Counters::add(&self.counters.put, 1);
        self.counters.set_len(state.items.len());
        self.grant_to_getter(state)
    }

    /// Takes the front item and grants the freed slot to the oldest waiting
    /// putter, if any.
    pub(crate) fn dequeue(&self, state: &mut State<T>) -> Option<(T, Option<Waker>)> {
        let item = state.items.pop_front()?;
        Counters::add(&self.counters.got, 1);
        self.counters.set_len(state.items.len());
        Some((item, self.grant_to_putter(state)))
    }

    /// Whether a `get` arriving now may take an item without waiting.
    pub(crate) fn has_ungranted_item(&self, state: &State<T>) -> bool {
        state.items.len() > state.granted_getters
    }

    pub(crate) fn grant_to_getter(&self, state: &mut State<T>) -> Option<Waker> {
        if state.shut_down || !self.has_ungranted_item(state) || !state.getters.has_waiting() {
            return None;
        }
        state.granted_getters += 1;
        state.getters.notify_one()
    }

    pub(crate) fn grant_to_putter(&self, state: &mut State<T>) -> Option<Waker> {
        if state.shut_down || self.free_slots(state) == 0 || !state.putters.has_waiting() {
            return None;
        }
        state.granted_putters += 1;
        state.putters.notify_one()
    }

    /// Puts without waiting, applying the overflow policy when full.
    /// `Block` is treated like `Reject` here; the caller decides to wait.
    pub(crate) fn admit(&self, state: &mut State<T>, item: T) -> Admission<T> {
        if state.shut_down {
            return Admission::Closed(item);
        }
        if self.free_slots(state) > 0 {
            return Admission::Done(AfterUnlock::wake(self.enqueue(state, item)));
        }
        match self.overflow {
            Overflow::Block | Overflow::Reject => Admission::Full(item),
            Overflow::DropNewest => Admission::Done(self.drop_item(item, DropReason::DropNewest)),
            Overflow::DropOldest => {
                let oldest = state
                    .items
                    .pop_front()
                    .expect("a full bounded queue holds at least one item");
                // Saturating: `task_done` may already have been called for
                // the evicted item while it was still queued.
                state.unfinished = state.unfinished.saturating_sub(1);
                let wake = self.enqueue(state, item);
                AfterUnlock {
                    wake,
                    ..self.drop_item(oldest, DropReason::DropOldest)
                }
                .into()
            }
        }
    }

    fn drop_item(&self, item: T, reason: DropReason) -> AfterUnlock<T> {
        self.counters.count_drop(reason);
        AfterUnlock {
            wake: None,
            dropped: Some(Dropped { item, reason }),
        }
    }

    /// Marks `n` items finished and wakes `join` callers when none are left.
    /// Saturating, as asyncio: `task_done` may already have been called for
    /// items that `shutdown_immediate` now removes.
    pub(crate) fn finish(&self, state: &mut State<T>, n: usize, wakers: &mut Vec<Waker>) {
        state.unfinished = state.unfinished.saturating_sub(n);
        if state.unfinished == 0 {
            state.joiners.notify_all(wakers);
        }
    }

    /// Shuts the queue: voids all grants and wakes every getter and putter.
    pub(crate) fn shut_down(&self, state: &mut State<T>, wakers: &mut Vec<Waker>) {
        state.shut_down = true;
        self.counters.shut_down.store(true, Ordering::Relaxed);
        state.granted_getters = 0;
        state.granted_putters = 0;
        state.getters.notify_all(wakers);
        state.putters.notify_all(wakers);
    }

    /// Records the end of a wait that began at `since`.
    pub(crate) fn end_wait(&self, since: Instant, kind: WaitKind) {
        self.wait_clock(kind).end(since, self.counters.epoch);
    }

    pub(crate) fn begin_wait(&self, kind: WaitKind) -> Instant {
        self.wait_clock(kind).begin(self.counters.epoch)
    }

    fn wait_clock(&self, kind: WaitKind) -> &WaitClock {
        match kind {
            WaitKind::Put => &self.counters.put_wait,
            WaitKind::Get => &self.counters.get_wait,
        }
    }
}

impl<T> From<AfterUnlock<T>> for Admission<T> {
    fn from(after: AfterUnlock<T>) -> Self {
        Admission::Done(after)
    }
}

#[derive(Clone, Copy)]
pub(crate) enum WaitKind {
    Put,
    Get,
}
