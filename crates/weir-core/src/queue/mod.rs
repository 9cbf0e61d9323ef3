//! A bounded multi-producer, multi-consumer async queue with the semantics
//! of Python's `asyncio.Queue`, made safe by Rust's types.
//!
//! # Why
//! Backpressure needs a bound. [`Queue::bounded`] makes one: [`Queue::put`]
//! waits while the queue is full, so a fast producer is slowed to the pace of
//! its consumers instead of filling memory. There is no capacity 0 that
//! silently means "unbounded" (asyncio's `maxsize=0` trap): an unbounded queue
//! exists only as [`Queue::unbounded`], and its [`QueueStats::capacity`] says
//! `None`.
//!
//! # Nothing is lost silently
//! * `try_put` and `put_timeout` hand the item back inside [`PutError`] when
//!   they cannot queue it; the error is `#[must_use]`.
//! * Under a dropping [`Overflow`] policy the dropped item goes to the
//!   `on_drop` handler with its [`DropReason`], and is counted; a dropping
//!   queue cannot be built without a handler.
//! * [`Queue::shutdown_immediate`] returns the items still queued.
//! * A [`Queue::get`] future dropped before completion never loses an item.
//!
//! # Example
//! ```
//! use weir_core::Queue;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let queue = Queue::bounded(2);
//! let producer = {
//!     let queue = queue.clone();
//!     tokio::spawn(async move {
//!         for n in 0..10 {
//!             // Waits whenever two items are queued: backpressure.
//!             queue.put(n).await.expect("queue open");
//!         }
//!         queue.shutdown(); // consumers drain what is left, then see None
//!     })
//! };
//! let mut sum = 0;
//! while let Some(n) = queue.get().await {
//!     sum += n;
//!     queue.task_done().unwrap();
//! }
//! producer.await.unwrap();
//! assert_eq!(sum, 45);
//! assert!(queue.stats().high_water <= 2);
//! # });
//! ```

mod core;
mod error;
mod futures;
mod policy;
mod stats;
mod waiters;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use crate::sync::Arc;

pub use self::error::{BuildError, GetError, PutError, TaskDoneError};
pub use self::futures::{Get, Join, Put};
pub use self::policy::{DropReason, Dropped, Overflow};
pub use self::stats::QueueStats;

use self::core::{Admission, Shared};
use self::policy::DropHandler;
use self::stats::Counters;

/// A handle to a bounded MPMC queue. Clone it to share the queue between
/// producers and consumers; every clone is the same queue.
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("capacity", &self.shared.capacity)
            .field("overflow", &self.shared.overflow)
            .field("len", &self.len())
            .finish()
    }
}

/// Settings for a queue, from [`Queue::builder`].
#[must_use]
pub struct QueueBuilder<T> {
    capacity: usize,
    overflow: Overflow,
    on_drop: Option<DropHandler<T>>,
}

impl<T> QueueBuilder<T> {
    /// What `put` does when the queue is full; [`Overflow::Block`] by default.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Where items dropped by a dropping policy go, with their reason.
    /// Required for [`Overflow::DropOldest`] and [`Overflow::DropNewest`].
    /// The handler runs in the putting task, outside the queue's lock.
    pub fn on_drop(mut self, handler: impl Fn(Dropped<T>) + Send + Sync + 'static) -> Self {
        self.on_drop = Some(std::sync::Arc::new(handler));
        self
    }

    /// Builds the queue.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir_core::{Dropped, Overflow, Queue};
    ///
    /// let dead_letters = Arc::new(Mutex::new(Vec::new()));
    /// let sink = dead_letters.clone();
    /// let queue = Queue::builder(2)
    ///     .overflow(Overflow::DropOldest)
    ///     .on_drop(move |dropped: Dropped<u32>| sink.lock().unwrap().push(dropped))
    ///     .build()
    ///     .unwrap();
    /// for n in 0..3 {
    ///     queue.try_put(n).unwrap();
    /// }
    /// assert_eq!(dead_letters.lock().unwrap()[0].item, 0);
    /// assert_eq!(queue.stats().dropped_oldest, 1);
    /// ```
    pub fn build(self) -> Result<Queue<T>, BuildError> {
        if self.capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        if self.overflow.drops_items() && self.on_drop.is_none() {
            return Err(BuildError::MissingDropHandler(self.overflow));
        }
        Ok(Queue::from_shared(Shared::new(
            Some(self.capacity),
            self.overflow,
            self.on_drop,
        )))
    }
}

impl<T> Queue<T> {
    fn from_shared(shared: Shared<T>) -> Self {
        Queue {
            shared: Arc::new(shared),
        }
    }

    /// A queue holding at most `capacity` items; `put` waits while it is full.
    ///
    /// # Panics
    /// If `capacity` is 0. Use [`Queue::unbounded`] to have no bound, or
    /// [`Queue::builder`] to get an error instead of a panic.
    pub fn bounded(capacity: usize) -> Self {
        Self::builder(capacity)
            .build()
            .expect("Queue::bounded: capacity must be at least 1")
    }

    /// A queue with no bound: `put` never waits, so it applies no
    /// backpressure. Its stats report `capacity: None`.
    pub fn unbounded() -> Self {
        Self::from_shared(Shared::new(None, Overflow::Block, None))
    }

    /// Settings for a bounded queue with an overflow policy.
    pub fn builder(capacity: usize) -> QueueBuilder<T> {
        QueueBuilder {
            capacity,
            overflow: Overflow::Block,
            on_drop: None,
        }
    }

    /// Puts an item, waiting while the queue is full (under
    /// [`Overflow::Block`]). Under the other policies it never waits: a
    /// dropping policy sends the dropped item to the `on_drop` handler and
    /// returns `Ok`; [`Overflow::Reject`] returns [`PutError::Full`].
    /// Waiting putters are given room in the order they started waiting.
    ///
    /// # Errors
    /// [`PutError::Closed`] with the item if the queue is shut down, also
    /// while waiting.
    ///
    /// # Cancel safety
    /// If the future is dropped before it completes, the item was not queued
    /// and is dropped with the future; room promised to it passes to the next
    /// waiting putter. Use [`Queue::put_timeout`] to get the item back when
    /// giving up on a wait.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let queue = weir_core::Queue::bounded(1);
    /// queue.put("a").await.unwrap();
    /// assert_eq!(queue.len(), 1);
    /// # });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put::new(&self.shared, item)
    }

    /// Puts an item if there is room now, without waiting. Under a dropping
    /// policy a full queue drops per the policy and returns `Ok`.
    ///
    /// # Errors
    /// [`PutError::Full`] or [`PutError::Closed`], each holding the item.
    ///
    /// ```
    /// use weir_core::{PutError, Queue};
    /// let queue = Queue::bounded(1);
    /// queue.try_put(1).unwrap();
    /// assert_eq!(queue.try_put(2), Err(PutError::Full(2)));
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        let mut state = self.shared.lock();
        match self.shared.admit(&mut state, item) {
            Admission::Done(after) => {
                drop(state);
                after.run(&self.shared);
                Ok(())
            }
            Admission::Full(item) => {
                Counters::add(&self.shared.counters.rejected, 1);
                Err(PutError::Full(item))
            }
            Admission::Closed(item) => Err(PutError::Closed(item)),
        }
    }

    /// Puts items from the front of `items`, in order, while there is room
    /// now, under one lock, as that many [`Queue::try_put`] calls would; the
    /// getters they are promised to are woken once, after the lock is
    /// released. What did not fit stays in `items`. Returns how many left
    /// `items` (queued, or dropped by a dropping policy); fewer than all
    /// means the queue is full or shut down, which a following
    /// [`Queue::put`] of the next item waits out or reports.
    ///
    /// For a producer that has several items at hand: one lock and one
    /// wake-up for all of them instead of one each.
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// let queue = weir_core::Queue::bounded(2);
    /// let mut items = VecDeque::from([1, 2, 3]);
    /// assert_eq!(queue.try_put_many(&mut items), 2);
    /// assert_eq!(items, [3]);
    /// assert_eq!(queue.len(), 2);
    /// ```
    pub fn try_put_many(&self, items: &mut VecDeque<T>) -> usize {
        let mut after = Vec::new();
        let mut state = self.shared.lock();
        let mut moved = 0;
        while let Some(item) = items.pop_front() {
            match self.shared.admit(&mut state, item) {
                Admission::Done(done) => {
                    moved += 1;
                    after.push(done);
                }
                Admission::Full(item) | Admission::Closed(item) => {
                    items.push_front(item);
                    break;
                }
            }
        }
        drop(state);
        for done in after {
            done.run(&self.shared);
        }
        moved
    }

    /// Like [`Queue::put`], but gives up after `timeout` and returns the item
    /// in [`PutError::TimedOut`]. Must be called within a tokio runtime with
    /// the time driver enabled.
    ///
    /// # Cancel safety
    /// As [`Queue::put`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use weir_core::{PutError, Queue};
    /// let queue = Queue::bounded(1);
    /// queue.put(1).await.unwrap();
    /// let err = queue.put_timeout(2, Duration::from_millis(10)).await;
    /// assert_eq!(err, Err(PutError::TimedOut(2)));
    /// # });
    /// ```
    pub async fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        let mut put = self.put(item);
        match tokio::time::timeout(timeout, &mut put).await {
            Ok(done) => done,
            Err(_elapsed) => {
                let item = put
                    .abandon()
                    .expect("an unfinished put still holds its item");
                Counters::add(&self.shared.counters.rejected, 1);
                Err(PutError::TimedOut(item))
            }
        }
    }

    /// Takes the oldest item, waiting while the queue is empty. Returns
    /// `None` once the queue is shut down and drained. Waiting getters are
    /// served in the order they started waiting.
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, no item was
    /// taken; an item already promised to it stays queued for the next getter.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let queue = weir_core::Queue::bounded(4);
    /// queue.put(7).await.unwrap();
    /// assert_eq!(queue.get().await, Some(7));
    /// queue.shutdown();
    /// assert_eq!(queue.get().await, None);
    /// # });
    /// ```
    pub fn get(&self) -> Get<'_, T> {
        Get::new(&self.shared)
    }

    /// Takes the oldest item if one is queued and not promised to a waiting
    /// getter.
    ///
    /// # Errors
    /// [`GetError::Empty`], or [`GetError::Closed`] once shut down and drained.
    pub fn try_get(&self) -> Result<T, GetError> {
        let mut state = self.shared.lock();
        if self.shared.has_ungranted_item(&state) {
            let (item, wake) = self.shared.dequeue(&mut state).expect("item present");
            drop(state);
            if let Some(waker) = wake {
                waker.wake();
            }
            return Ok(item);
        }
        Err(if state.shut_down {
            GetError::Closed
        } else {
            GetError::Empty
        })
    }

    /// Takes up to `max` of the oldest items not promised to a waiting
    /// getter, adding them to `into` in order, under one lock, as that
    /// many [`Queue::try_get`] calls would; putters waiting for the freed
    /// room are woken after the lock is released. Returns how many were
    /// taken (0 if none was there).
    ///
    /// ```
    /// let queue = weir_core::Queue::bounded(4);
    /// for n in 0..3 {
    ///     queue.try_put(n).unwrap();
    /// }
    /// let mut taken = Vec::new();
    /// assert_eq!(queue.try_get_many(2, &mut taken), 2);
    /// assert_eq!(taken, [0, 1]);
    /// assert_eq!(queue.len(), 1);
    /// ```
    pub fn try_get_many(&self, max: usize, into: &mut impl Extend<T>) -> usize {
        let mut wakers = Vec::new();
        let mut state = self.shared.lock();
        let mut taken = 0;
        while taken < max && self.shared.has_ungranted_item(&state) {
            let (item, wake) = self.shared.dequeue(&mut state).expect("item present");
            into.extend(Some(item));
            wakers.extend(wake);
            taken += 1;
        }
        drop(state);
        for waker in wakers {
            waker.wake();
        }
        taken
    }

    /// Like [`Queue::get`], but gives up after `timeout`.
    ///
    /// # Errors
    /// [`GetError::TimedOut`], or [`GetError::Closed`] once shut down and drained.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`Queue::get`].
    pub async fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        match tokio::time::timeout(timeout, self.get()).await {
            Ok(Some(item)) => Ok(item),
            Ok(None) => Err(GetError::Closed),
            Err(_elapsed) => Err(GetError::TimedOut),
        }
    }

    /// Marks one item taken from the queue as fully processed, as asyncio's
    /// `task_done`. [`Queue::join`] returns once every item put has been
    /// marked done (items dropped by policy or returned by
    /// `shutdown_immediate` count as done).
    ///
    /// # Errors
    /// [`TaskDoneError`] if called more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = Vec::new();
        let mut state = self.shared.lock();
        if state.unfinished == 0 {
            return Err(TaskDoneError);
        }
        self.shared.finish(&mut state, 1, &mut wakers);
        drop(state);
        wakers.into_iter().for_each(std::task::Waker::wake);
        Ok(())
    }

    /// Waits until every item put has been marked done with
    /// [`Queue::task_done`].
    ///
    /// # Cancel safety
    /// Cancel-safe: it only observes the queue.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let queue = weir_core::Queue::bounded(4);
    /// queue.put(1).await.unwrap();
    /// let worker = { let queue = queue.clone(); tokio::spawn(async move {
    ///     let _item = queue.get().await;
    ///     queue.task_done().unwrap();
    /// }) };
    /// queue.join().await;
    /// worker.await.unwrap();
    /// # });
    /// ```
    pub fn join(&self) -> Join<'_, T> {
        Join::new(&self.shared)
    }

    /// Graceful shutdown: from now on puts fail with [`PutError::Closed`]
    /// (waiting putters too, each getting its item back); gets drain the
    /// items left, then return `None`. Idempotent.
    pub fn shutdown(&self) {
        let mut wakers = Vec::new();
        let mut state = self.shared.lock();
        self.shared.shut_down(&mut state, &mut wakers);
        drop(state);
        wakers.into_iter().for_each(std::task::Waker::wake);
    }

    /// Immediate shutdown: as [`Queue::shutdown`], and the items still queued
    /// are removed and handed back to the caller (never dropped), so gets end
    /// at once. The returned items count as done for [`Queue::join`].
    #[must_use = "the items still queued are returned; handle them or they are lost"]
    pub fn shutdown_immediate(&self) -> Vec<T> {
        let mut wakers = Vec::new();
        let mut state = self.shared.lock();
        self.shared.shut_down(&mut state, &mut wakers);
        let left: Vec<T> = state.items.drain(..).collect();
        self.shared.counters.set_len(0);
        self.shared.finish(&mut state, left.len(), &mut wakers);
        drop(state);
        wakers.into_iter().for_each(std::task::Waker::wake);
        left
    }

    /// Whether `shutdown` or `shutdown_immediate` was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.stats().len
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound, or `None` for an unbounded queue.
    pub fn capacity(&self) -> Option<usize> {
        self.shared.capacity
    }

    /// The overflow policy the queue was built with.
    pub fn overflow(&self) -> Overflow {
        self.shared.overflow
    }

    /// A snapshot of the queue's counters, read without taking its lock.
    pub fn stats(&self) -> QueueStats {
        self.shared.counters.snapshot(self.shared.capacity)
    }
}
