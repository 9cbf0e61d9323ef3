//! Behaviour of `weir_core::Queue`, mirroring `asyncio.Queue`.
//!
//! Waiting is observed deterministically: futures are polled by hand with
//! counting wakers, or tasks run on a paused-clock runtime and the test
//! yields until the queue's stats show the expected waiters.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use weir_core::{
    BuildError, DropReason, Dropped, GetError, Overflow, PutError, Queue, TaskDoneError,
};

/// A waker that counts how often it was woken.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand, with its own counting waker.
struct Manual<F> {
    fut: Pin<Box<F>>,
    wakes: Arc<CountingWaker>,
}

impl<F: Future> Manual<F> {
    fn new(fut: F) -> Self {
        Manual {
            fut: Box::pin(fut),
            wakes: Arc::default(),
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        let waker = Waker::from(self.wakes.clone());
        self.fut.as_mut().poll(&mut Context::from_waker(&waker))
    }

    fn woken(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    #[track_caller]
    fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("future expected to be ready is pending"),
        }
    }

    #[track_caller]
    fn pending(&mut self) {
        assert!(self.poll().is_pending(), "future expected to be pending");
    }
}

/// Yields to the runtime until `done` holds (bounded, so a bug fails the
/// test instead of hanging it).
async fn yield_until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

/// What a drop handler received, in order.
type DropLog<T> = Arc<Mutex<Vec<Dropped<T>>>>;

fn recorder<T: Send + 'static>() -> (DropLog<T>, impl Fn(Dropped<T>) + Send + Sync + 'static) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    (log, move |dropped| sink.lock().unwrap().push(dropped))
}

#[tokio::test]
async fn capacity_is_never_exceeded_and_high_water_is_at_most_capacity() {
    let queue = Queue::bounded(3);
    let producer = {
        let queue = queue.clone();
        tokio::spawn(async move {
            for n in 0..200 {
                queue.put(n).await.unwrap();
                assert!(queue.len() <= 3);
            }
        })
    };
    for expected in 0..200 {
        // Let the producer fill the queue before each get.
        yield_until(|| queue.len() == 3 || expected > 197).await;
        assert!(queue.len() <= 3);
        assert_eq!(queue.get().await, Some(expected));
    }
    producer.await.unwrap();
    let stats = queue.stats();
    assert_eq!(stats.capacity, Some(3));
    assert_eq!(stats.high_water, 3);
    assert_eq!((stats.put, stats.got, stats.len), (200, 200, 0));
}

#[test]
fn put_blocks_when_full_and_putters_resume_in_fifo_order() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    let mut putters: Vec<_> = (1..=3).map(|n| Manual::new(queue.put(n))).collect();
    for putter in &mut putters {
        putter.pending();
    }
    assert_eq!(queue.stats().putters_waiting, 3);
    assert_eq!(queue.len(), 1);

    // A freed slot goes to the oldest putter only; nobody can barge in.
    assert_eq!(queue.try_get(), Ok(0));
    assert_eq!(putters[0].woken(), 1);
    assert_eq!(putters[1].woken() + putters[2].woken(), 0);
    assert_eq!(queue.try_put(99), Err(PutError::Full(99)));
    putters[2].pending();
    putters[1].pending();
    assert_eq!(putters[0].ready(), Ok(()));

    for n in 1..=3 {
        assert_eq!(queue.try_get(), Ok(n));
        if n < 3 {
            assert_eq!(putters[n].woken(), 1);
            // The later putter is still not admitted.
            if n == 1 {
                putters[2].pending();
            }
            assert_eq!(putters[n].ready(), Ok(()));
        }
    }
    assert_eq!(queue.try_get(), Err(GetError::Empty));
    assert_eq!(queue.stats().putters_waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn put_tasks_resume_in_the_order_they_started_waiting() {
    let queue = Queue::bounded(2);
    queue.put(0).await.unwrap();
    queue.put(1).await.unwrap();
    let mut tasks = Vec::new();
    for n in 2..8 {
        let q = queue.clone();
        tasks.push(tokio::spawn(async move { q.put(n).await.unwrap() }));
        // Register each putter before the next one starts.
        yield_until(|| queue.stats().putters_waiting == (n - 1) as usize).await;
    }
    let mut got = Vec::new();
    while got.len() < 8 {
        got.push(queue.get().await.unwrap());
    }
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn get_blocks_when_empty_and_getters_are_served_fifo() {
    let queue = Queue::bounded(4);
    let mut getters: Vec<_> = (0..3).map(|_| Manual::new(queue.get())).collect();
    for getter in &mut getters {
        getter.pending();
    }
    assert_eq!(queue.stats().getters_waiting, 3);

    queue.try_put(10).unwrap();
    assert_eq!(getters[0].woken(), 1);
    assert_eq!(getters[1].woken() + getters[2].woken(), 0);
    // The item is promised to the oldest getter: no barging.
    assert_eq!(queue.try_get(), Err(GetError::Empty));
    assert!(Manual::new(queue.get()).poll().is_pending());
    getters[1].pending();
    assert_eq!(getters[0].ready(), Some(10));

    queue.try_put(11).unwrap();
    getters[2].pending();
    assert_eq!(getters[1].ready(), Some(11));
    queue.try_put(12).unwrap();
    assert_eq!(getters[2].ready(), Some(12));
    assert_eq!(queue.stats().getters_waiting, 0);
    assert!(queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn get_tasks_are_served_in_the_order_they_started_waiting() {
    let queue = Queue::<usize>::bounded(8);
    let mut tasks = Vec::new();
    for n in 0..6 {
        let q = queue.clone();
        tasks.push(tokio::spawn(async move { q.get().await }));
        yield_until(|| queue.stats().getters_waiting == n + 1).await;
    }
    for n in 0..6 {
        queue.put(n).await.unwrap();
    }
    for (n, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Some(n));
    }
}

#[test]
fn try_put_and_try_get_give_the_item_back() {
    let queue = Queue::bounded(1);
    assert_eq!(queue.try_get(), Err(GetError::Empty));
    queue.try_put(String::from("a")).unwrap();
    let err = queue.try_put(String::from("b")).unwrap_err();
    assert!(!err.is_closed());
    assert_eq!(err, PutError::Full(String::from("b")));
    assert_eq!(err.into_inner(), "b");
    assert_eq!(queue.stats().rejected, 1);

    queue.shutdown();
    let err = queue.try_put(String::from("c")).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner(), "c");
    assert_eq!(queue.try_get().as_deref(), Ok("a"));
    assert_eq!(queue.try_get(), Err(GetError::Closed));
}

#[test]
fn batch_put_and_get_keep_order_grants_and_capacity() {
    let queue = Queue::bounded(3);
    let mut getters: Vec<_> = (0..2).map(|_| Manual::new(queue.get())).collect();
    for getter in &mut getters {
        getter.pending();
    }
    // Four items, room for three: the first two are promised to the two
    // waiting getters, each woken once; the fourth stays with the caller.
    let mut items = std::collections::VecDeque::from([1, 2, 3, 4]);
    assert_eq!(queue.try_put_many(&mut items), 3);
    assert_eq!(items, [4]);
    assert_eq!((getters[0].woken(), getters[1].woken()), (1, 1));
    assert_eq!(queue.stats().high_water, 3);
    // A batch take leaves as many items as were promised: no barging.
    let mut taken = Vec::new();
    assert_eq!(queue.try_get_many(10, &mut taken), 1);
    assert_eq!(taken, [1]);
    assert_eq!(getters[0].ready(), Some(2));
    assert_eq!(getters[1].ready(), Some(3));

    // A putter waiting for room is woken by a batch take.
    for n in 5..8 {
        queue.try_put(n).unwrap();
    }
    let mut putter = Manual::new(queue.put(8));
    putter.pending();
    assert_eq!(queue.try_get_many(2, &mut taken), 2);
    assert_eq!(taken, [1, 5, 6]);
    assert_eq!(putter.woken(), 1);
    assert_eq!(putter.ready(), Ok(()));
    assert_eq!(queue.try_get_many(10, &mut taken), 2);
    assert_eq!(taken, [1, 5, 6, 7, 8]);
    assert_eq!(queue.try_get_many(10, &mut taken), 0);

    // Shut down: nothing more goes in, and the items stay with the caller.
    queue.shutdown();
    assert_eq!(queue.try_put_many(&mut items), 0);
    assert_eq!(items, [4]);
}

#[tokio::test(start_paused = true)]
async fn put_timeout_returns_the_item_and_get_timeout_times_out() {
    let queue = Queue::bounded(1);
    assert_eq!(
        queue.get_timeout(Duration::from_millis(5)).await,
        Err(GetError::TimedOut)
    );
    assert_eq!(queue.stats().getters_waiting, 0);

    queue.put(1).await.unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(
        queue.put_timeout(2, Duration::from_millis(10)).await,
        Err(PutError::TimedOut(2))
    );
    assert!(start.elapsed() >= Duration::from_millis(10));
    let stats = queue.stats();
    assert_eq!(
        (stats.len, stats.rejected, stats.putters_waiting),
        (1, 1, 0)
    );

    assert_eq!(queue.get_timeout(Duration::from_millis(5)).await, Ok(1));

    // A put that gets room before its deadline succeeds.
    queue.put(3).await.unwrap();
    let consumer = {
        let queue = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            queue.get().await
        })
    };
    assert_eq!(
        queue.put_timeout(4, Duration::from_millis(50)).await,
        Ok(())
    );
    assert_eq!(consumer.await.unwrap(), Some(3));
    assert_eq!(queue.try_get(), Ok(4));

    queue.shutdown();
    assert_eq!(
        queue.get_timeout(Duration::from_millis(5)).await,
        Err(GetError::Closed)
    );
    assert_eq!(
        queue.put_timeout(5, Duration::from_millis(5)).await,
        Err(PutError::Closed(5))
    );
}

#[test]
fn join_waits_for_task_done_and_extra_task_done_is_an_error() {
    let queue = Queue::bounded(4);
    assert!(Manual::new(queue.join()).poll().is_ready());
    assert_eq!(queue.task_done(), Err(TaskDoneError));

    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    let mut join = Manual::new(queue.join());
    join.pending();
    assert_eq!(queue.try_get(), Ok(1));
    join.pending();
    queue.task_done().unwrap();
    join.pending();
    assert_eq!(join.woken(), 0);
    assert_eq!(queue.try_get(), Ok(2));
    join.pending();
    queue.task_done().unwrap();
    assert_eq!(join.woken(), 1);
    join.ready();
    assert_eq!(queue.task_done(), Err(TaskDoneError));
    assert!(Manual::new(queue.join()).poll().is_ready());
}

#[tokio::test]
async fn join_returns_once_workers_finish_every_item() {
    let queue = Queue::bounded(2);
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (queue, done) = (queue.clone(), done.clone());
            tokio::spawn(async move {
                while let Some(_item) = queue.get().await {
                    tokio::task::yield_now().await;
                    done.fetch_add(1, Ordering::SeqCst);
                    queue.task_done().unwrap();
                }
            })
        })
        .collect();
    for n in 0..20 {
        queue.put(n).await.unwrap();
    }
    queue.join().await;
    assert_eq!(done.load(Ordering::SeqCst), 20);
    queue.shutdown();
    for worker in workers {
        worker.await.unwrap();
    }
}

#[test]
fn shutdown_fails_puts_and_lets_gets_drain_then_end() {
    let queue = Queue::bounded(2);
    queue.try_put('a').unwrap();
    queue.try_put('b').unwrap();
    let mut waiting_putter = Manual::new(queue.put('c'));
    waiting_putter.pending();

    queue.shutdown();
    assert!(queue.is_shut_down());
    assert!(queue.stats().shut_down);
    assert_eq!(waiting_putter.woken(), 1);
    assert_eq!(waiting_putter.ready(), Err(PutError::Closed('c')));
    assert_eq!(
        Manual::new(queue.put('d')).ready(),
        Err(PutError::Closed('d'))
    );
    assert_eq!(queue.try_put('e'), Err(PutError::Closed('e')));

    assert_eq!(Manual::new(queue.get()).ready(), Some('a'));
    assert_eq!(Manual::new(queue.get()).ready(), Some('b'));
    assert_eq!(Manual::new(queue.get()).ready(), None);
    assert_eq!(queue.try_get(), Err(GetError::Closed));
    queue.shutdown(); // idempotent
    assert_eq!(queue.stats().putters_waiting, 0);
    assert_eq!(queue.stats().put, 2);
}

#[test]
fn shutdown_immediate_returns_items_wakes_getters_and_completes_join() {
    let queue = Queue::bounded(3);
    queue.try_put(1).unwrap();
    queue.try_put(2).unwrap();
    let mut join = Manual::new(queue.join());
    join.pending();
    assert_eq!(queue.shutdown_immediate(), vec![1, 2]);
    assert_eq!(join.woken(), 1);
    join.ready();
    assert!(queue.is_empty());
    assert_eq!(Manual::new(queue.get()).ready(), None);
    assert_eq!(queue.shutdown_immediate(), Vec::<i32>::new());

    let queue = Queue::<i32>::bounded(3);
    let mut getters: Vec<_> = (0..3).map(|_| Manual::new(queue.get())).collect();
    for getter in &mut getters {
        getter.pending();
    }
    assert!(queue.shutdown_immediate().is_empty());
    for getter in &mut getters {
        assert_eq!(getter.woken(), 1);
        assert_eq!(getter.ready(), None);
    }
    assert_eq!(queue.stats().getters_waiting, 0);
}

#[test]
fn shutdown_immediate_with_items_granted_to_getters_hands_them_back() {
    let queue = Queue::bounded(2);
    let mut getter = Manual::new(queue.get());
    getter.pending();
    queue.try_put(7).unwrap(); // granted to `getter`, not yet taken
    queue.try_put(8).unwrap();
    assert_eq!(queue.shutdown_immediate(), vec![7, 8]);
    assert_eq!(getter.ready(), None);
    assert!(Manual::new(queue.join()).poll().is_ready());
}

#[test]
fn shutdown_immediate_after_early_task_done_does_not_underflow() {
    // asyncio allows task_done for an item still queued; the unfinished
    // count must not go below zero when that item is then removed.
    let queue = Queue::bounded(2);
    queue.try_put(1).unwrap();
    queue.task_done().unwrap();
    assert_eq!(queue.shutdown_immediate(), vec![1]);
    assert!(Manual::new(queue.join()).poll().is_ready());
    assert_eq!(queue.task_done(), Err(TaskDoneError));
}

#[test]
fn drop_oldest_after_early_task_done_does_not_underflow() {
    let (log, handler) = recorder();
    let queue = Queue::builder(1)
        .overflow(Overflow::DropOldest)
        .on_drop(handler)
        .build()
        .unwrap();
    queue.try_put(1).unwrap();
    queue.task_done().unwrap();
    queue.try_put(2).unwrap();
    assert_eq!(log.lock().unwrap()[0].item, 1);
    // Item 2 is queued and unfinished: join waits for it.
    let mut join = Manual::new(queue.join());
    join.pending();
    assert_eq!(queue.try_get(), Ok(2));
    queue.task_done().unwrap();
    join.ready();
}

#[test]
fn cancelled_getter_loses_nothing_the_next_getter_gets_the_item() {
    let queue = Queue::bounded(2);
    let mut first = Manual::new(queue.get());
    let mut second = Manual::new(queue.get());
    first.pending();
    second.pending();
    queue.try_put(5).unwrap();
    assert_eq!((first.woken(), second.woken()), (1, 0));
    drop(first); // granted but never took its item
    assert_eq!(second.woken(), 1);
    assert_eq!(second.ready(), Some(5));

    // With no other getter, the item simply stays queued.
    let mut lone = Manual::new(queue.get());
    lone.pending();
    queue.try_put(6).unwrap();
    assert_eq!(lone.woken(), 1);
    drop(lone);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.try_get(), Ok(6));
    assert_eq!(queue.stats().getters_waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn get_timeout_that_gives_up_loses_nothing() {
    let queue = Queue::bounded(1);
    let timed_out = queue.get_timeout(Duration::from_millis(10)).await;
    assert_eq!(timed_out, Err(GetError::TimedOut));
    queue.put(1).await.unwrap();
    let getter = {
        let queue = queue.clone();
        tokio::spawn(async move {
            tokio::select! {
                item = queue.get() => item,
                () = tokio::time::sleep(Duration::from_millis(1)) => None,
            }
        })
    };
    let _ = getter.await.unwrap();
    // Either the select took it, or it is still queued; never lost.
    let stats = queue.stats();
    assert_eq!(stats.got + stats.len as u64, 1);

    // The give-up path itself: a getter waits on an empty queue, is woken
    // for an item put while it waits, and gives up (is dropped) before it
    // runs again. The item stays in the queue for the next getter.
    let queue = Queue::bounded(1);
    let mut getter = Manual::new(queue.get_timeout(Duration::from_millis(10)));
    getter.pending();
    assert_eq!(queue.stats().getters_waiting, 1);
    queue.try_put(1).unwrap();
    assert_eq!(getter.woken(), 1, "the waiting getter was woken");
    drop(getter);
    assert_eq!(queue.stats().getters_waiting, 0);
    assert_eq!(queue.try_get(), Ok(1), "the item outlived the getter");

    // A getter whose timeout passes while it waits gives up with TimedOut
    // and leaves no waiter behind: the next item is anyone's.
    let mut late = Manual::new(queue.get_timeout(Duration::from_millis(10)));
    late.pending();
    tokio::time::advance(Duration::from_millis(20)).await;
    assert_eq!(late.ready(), Err(GetError::TimedOut));
    assert_eq!(queue.stats().getters_waiting, 0);
    queue.try_put(2).unwrap();
    assert_eq!(queue.try_get(), Ok(2));
}

#[test]
fn cancelled_putter_granted_slot_goes_to_the_next_putter() {
    let queue = Queue::bounded(1);
    queue.try_put(0).unwrap();
    let mut first = Manual::new(queue.put(1));
    let mut second = Manual::new(queue.put(2));
    first.pending();
    second.pending();
    assert_eq!(queue.try_get(), Ok(0));
    assert_eq!((first.woken(), second.woken()), (1, 0));
    drop(first);
    assert_eq!(second.woken(), 1);
    assert_eq!(second.ready(), Ok(()));
    assert_eq!(queue.try_get(), Ok(2));

    // With no other putter, the slot is free again.
    queue.try_put(3).unwrap();
    let mut lone = Manual::new(queue.put(4));
    lone.pending();
    assert_eq!(queue.try_get(), Ok(3));
    drop(lone);
    queue.try_put(5).unwrap();
    assert_eq!(queue.try_get(), Ok(5));
    assert_eq!(queue.stats().putters_waiting, 0);
}

#[test]
fn shutdown_wakes_every_waiter() {
    let empty = Queue::<u8>::bounded(1);
    let full = Queue::bounded(1);
    full.try_put(0u8).unwrap();
    let mut getters: Vec<_> = (0..4).map(|_| Manual::new(empty.get())).collect();
    let mut putters: Vec<_> = (1..5).map(|n| Manual::new(full.put(n))).collect();
    getters.iter_mut().for_each(Manual::pending);
    putters.iter_mut().for_each(Manual::pending);
    // Grant the slot to the first putter, so both granted and ungranted
    // putters are waiting at shutdown.
    assert_eq!(full.try_get(), Ok(0));

    empty.shutdown();
    full.shutdown();
    for getter in &mut getters {
        assert_eq!(getter.woken(), 1);
        assert_eq!(getter.ready(), None);
    }
    for (n, putter) in (1..).zip(&mut putters) {
        assert_eq!(putter.woken(), 1);
        assert_eq!(putter.ready(), Err(PutError::Closed(n)));
    }
    assert_eq!(empty.stats().getters_waiting, 0);
    assert_eq!(full.stats().putters_waiting, 0);
    assert!(full.is_empty());
}

#[tokio::test]
async fn shutdown_wakes_waiting_tasks() {
    let queue = Queue::<u8>::bounded(1);
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.get().await })
        })
        .collect();
    yield_until(|| queue.stats().getters_waiting == 3).await;
    queue.shutdown();
    for getter in getters {
        assert_eq!(getter.await.unwrap(), None);
    }
}

#[tokio::test]
async fn drop_oldest_sends_evicted_items_to_the_handler() {
    let (log, handler) = recorder();
    let queue = Queue::builder(2)
        .overflow(Overflow::DropOldest)
        .on_drop(handler)
        .build()
        .unwrap();
    assert_eq!(queue.overflow(), Overflow::DropOldest);
    for n in 0..4 {
        queue.put(n).await.unwrap(); // never waits
    }
    queue.try_put(4).unwrap();
    let dropped = log.lock().unwrap().clone();
    assert_eq!(
        dropped,
        (0..3)
            .map(|item| Dropped {
                item,
                reason: DropReason::DropOldest
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(DropReason::DropOldest.to_string(), "drop_oldest");
    let stats = queue.stats();
    assert_eq!((stats.dropped_oldest, stats.dropped_newest), (3, 0));
    assert_eq!(stats.dropped(), 3);
    assert_eq!((stats.put, stats.len, stats.high_water), (5, 2, 2));
    assert_eq!(queue.try_get(), Ok(3));
    assert_eq!(queue.try_get(), Ok(4));
}

#[tokio::test]
async fn drop_newest_sends_refused_items_to_the_handler() {
    let (log, handler) = recorder();
    let queue = Queue::builder(2)
        .overflow(Overflow::DropNewest)
        .on_drop(handler)
        .build()
        .unwrap();
    for n in 0..4 {
        queue.put(n).await.unwrap();
    }
    queue.try_put(4).unwrap();
    let dropped = log.lock().unwrap().clone();
    assert_eq!(
        dropped,
        (2..5)
            .map(|item| Dropped {
                item,
                reason: DropReason::DropNewest
            })
            .collect::<Vec<_>>()
    );
    let stats = queue.stats();
    assert_eq!((stats.dropped_oldest, stats.dropped_newest), (0, 3));
    assert_eq!((stats.put, stats.len), (2, 2));
    assert_eq!(queue.try_get(), Ok(0));
    assert_eq!(queue.try_get(), Ok(1));
    // Dropped items were never unfinished.
    queue.task_done().unwrap();
    queue.task_done().unwrap();
    assert_eq!(queue.task_done(), Err(TaskDoneError));
}

#[tokio::test]
async fn reject_returns_full_with_the_item_and_counts_rejected() {
    let queue = Queue::builder(1)
        .overflow(Overflow::Reject)
        .build()
        .unwrap();
    queue.put(0).await.unwrap();
    assert_eq!(queue.put(1).await, Err(PutError::Full(1)));
    assert_eq!(queue.try_put(2), Err(PutError::Full(2)));
    let stats = queue.stats();
    assert_eq!((stats.rejected, stats.put, stats.len), (2, 1, 1));
    assert_eq!(stats.putters_waiting, 0);
    assert!(stats.is_full());
}

#[test]
fn builder_rejects_zero_capacity_and_missing_drop_handler() {
    assert_eq!(
        Queue::<u8>::builder(0).build().unwrap_err(),
        BuildError::ZeroCapacity
    );
    for policy in [Overflow::DropOldest, Overflow::DropNewest] {
        assert!(policy.drops_items());
        assert_eq!(
            Queue::<u8>::builder(1)
                .overflow(policy)
                .build()
                .unwrap_err(),
            BuildError::MissingDropHandler(policy)
        );
    }
    for policy in [Overflow::Block, Overflow::Reject] {
        assert!(!policy.drops_items());
        let queue = Queue::<u8>::builder(1).overflow(policy).build().unwrap();
        assert_eq!(queue.capacity(), Some(1));
    }
    assert_eq!(Overflow::default(), Overflow::Block);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn bounded_with_zero_capacity_panics() {
    let _ = Queue::<u8>::bounded(0);
}

#[test]
fn unbounded_reports_capacity_none_and_never_blocks() {
    let queue = Queue::unbounded();
    assert_eq!(queue.capacity(), None);
    for n in 0..10_000 {
        assert_eq!(Manual::new(queue.put(n)).ready(), Ok(()));
    }
    let stats = queue.stats();
    assert_eq!(stats.capacity, None);
    assert!(!stats.is_full());
    assert_eq!((stats.len, stats.high_water), (10_000, 10_000));
    assert_eq!(queue.try_get(), Ok(0));
}

#[tokio::test(start_paused = true)]
async fn stats_count_puts_gets_and_time_spent_waiting() {
    let queue = Queue::bounded(1);
    queue.put(0).await.unwrap();
    let putter = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.put(1).await })
    };
    yield_until(|| queue.stats().putters_waiting == 1).await;
    tokio::time::advance(Duration::from_millis(50)).await;
    // A wait in progress counts already.
    let waiting = queue.stats().put_blocked;
    assert!(
        waiting >= Duration::from_millis(50) && waiting < Duration::from_millis(60),
        "{waiting:?}"
    );
    assert_eq!(queue.get().await, Some(0));
    putter.await.unwrap().unwrap();
    let stats = queue.stats();
    assert!(stats.put_blocked >= Duration::from_millis(50), "{stats:?}");
    assert!(stats.put_blocked < Duration::from_millis(60), "{stats:?}");
    assert_eq!(stats.putters_waiting, 0);

    assert_eq!(queue.get().await, Some(1));
    let getter = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.get().await })
    };
    yield_until(|| queue.stats().getters_waiting == 1).await;
    tokio::time::advance(Duration::from_millis(30)).await;
    queue.put(2).await.unwrap();
    assert_eq!(getter.await.unwrap(), Some(2));
    let stats = queue.stats();
    assert!(stats.get_waited >= Duration::from_millis(30), "{stats:?}");
    assert!(stats.get_waited < Duration::from_millis(40), "{stats:?}");
    assert_eq!((stats.put, stats.got, stats.len), (3, 3, 0));
    assert_eq!((stats.getters_waiting, stats.rejected), (0, 0));
    assert_eq!(stats.high_water, 1);
}

#[test]
fn multi_thread_stress_every_item_is_received_exactly_once() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    const PER_PRODUCER: usize = 10_000;
    const CAPACITY: usize = 16;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let queue = Queue::bounded(CAPACITY);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    for n in 0..PER_PRODUCER {
                        queue.put((p, n)).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(item) = queue.get().await {
                        got.push(item);
                        queue.task_done().unwrap();
                    }
                    got
                })
            })
            .collect();
        let run = async {
            for producer in producers {
                producer.await.unwrap();
            }
            queue.join().await;
            queue.shutdown();
            let mut seen = vec![vec![false; PER_PRODUCER]; PRODUCERS];
            for consumer in consumers {
                let got = consumer.await.unwrap();
                // FIFO: one consumer sees each producer's items in order.
                let mut last = [None; PRODUCERS];
                for (p, n) in got {
                    assert!(last[p].is_none_or(|l| l < n), "out of order");
                    last[p] = Some(n);
                    assert!(!seen[p][n], "item ({p}, {n}) received twice");
                    seen[p][n] = true;
                }
            }
            assert!(seen.iter().flatten().all(|&s| s), "an item was lost");
        };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("stress test hung");
        let stats = queue.stats();
        let total = (PRODUCERS * PER_PRODUCER) as u64;
        assert_eq!((stats.put, stats.got, stats.len), (total, total, 0));
        assert!(stats.high_water <= CAPACITY);
        assert_eq!((stats.putters_waiting, stats.getters_waiting), (0, 0));
    });
}

#[tokio::test(start_paused = true)]
async fn blocked_time_counts_waits_still_in_progress() {
    let queue = Queue::bounded(1);
    queue.put(0u32).await.unwrap();
    let stuck = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.put(1).await })
    };
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stats = queue.stats();
    assert_eq!(stats.putters_waiting, 1);
    assert!(
        stats.put_blocked >= Duration::from_secs(5),
        "a putter stuck for 5s shows it before it gets room: {:?}",
        stats.put_blocked
    );
    assert_eq!(queue.get().await, Some(0));
    stuck.await.unwrap().unwrap();
    let done = queue.stats().put_blocked;
    assert!(
        done >= Duration::from_secs(5) && done < Duration::from_secs(6),
        "{done:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_consumer_that_always_finds_items_still_lets_other_tasks_run() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let queue = Queue::unbounded();
    for n in 0..10_000u32 {
        queue.try_put(n).unwrap();
    }
    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
    let mut ran_before_the_end = false;
    for _ in 0..10_000 {
        queue.get().await.unwrap();
        ran_before_the_end |= other_ran.load(Ordering::SeqCst);
    }
    assert!(ran_before_the_end, "get spends tokio's budget and yields");
}
