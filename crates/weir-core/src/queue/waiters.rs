//! A FIFO list of parked futures, kept inside the queue's lock.
//!
//! Each waiter owns a slot in a slab for as long as it is registered; the
//! notifier marks the slot and takes its waker, the waiter frees the slot.
//! A slab (not a linked list of `Arc`s) means no allocation per wait once
//! the slab has grown to the number of concurrent waiters.

use std::collections::VecDeque;
use std::task::Waker;

use slab::Slab;

struct Slot {
    waker: Option<Waker>,
    notified: bool,
}

/// Waiters in the order they started waiting.
#[derive(Default)]
pub(crate) struct WaitList {
    slots: Slab<Slot>,
    /// Keys of waiters not yet notified, oldest first.
    order: VecDeque<usize>,
}

impl WaitList {
    /// Whether some waiter is still waiting to be notified.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.order.is_empty()
    }

    /// Parks a new waiter at the back and returns its key.
    pub(crate) fn push(&mut self, waker: &Waker) -> usize {
        let key = self.slots.insert(Slot {
            waker: Some(waker.clone()),
            notified: false,
        });
        self.order.push_back(key);
        key
    }

    /// For a registered waiter being polled again: returns `true` (and frees
    /// the slot) if it was notified, else stores the new waker.
    pub(crate) fn poll_notified(&mut self, key: usize, waker: &Waker) -> bool {
        let slot = &mut self.slots[key];
        if slot.notified {
            self.slots.remove(key);
            return true;
        }
        match &slot.waker {
            Some(old) if old.will_wake(waker) => {}
            _ => slot.waker = Some(waker.clone()),
        }
        false
    }

    /// Notifies the oldest waiting waiter, returning its waker to be woken
    /// once the queue's lock is released.
    pub(crate) fn notify_one(&mut self) -> Option<Waker> {
        let key = self.order.pop_front()?;
        let slot = &mut self.slots[key];
        slot.notified = true;
        slot.waker.take()
    }

    /// Notifies every waiting waiter.
    pub(crate) fn notify_all(&mut self, wakers: &mut Vec<Waker>) {
        while let Some(key) = self.order.pop_front() {
            let slot = &mut self.slots[key];
            slot.notified = true;
            wakers.extend(slot.waker.take());
        }
    }

    /// Frees the slot of a waiter that gives up. Returns `true` if it had
    /// been notified, so that the caller can pass the notification on.
    pub(crate) fn cancel(&mut self, key: usize) -> bool {
        let slot = self.slots.remove(key);
        if !slot.notified {
            if let Some(position) = self.order.iter().position(|&k| k == key) {
                self.order.remove(position);
            }
        }
        slot.notified
    }
}
