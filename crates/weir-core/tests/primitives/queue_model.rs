//! Model-based test: random sequences of non-blocking operations, including
//! `put`/`get` futures polled by hand and kept pending, run against both the
//! real queue and a plain reference model. Every result, the stats, the drop
//! handler's log and every wake-up must agree, and no item may be lost or
//! duplicated.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use proptest::prelude::*;
use weir_core::{
    DropReason, Dropped, GetError, Overflow, PutError, Queue, QueueStats, TaskDoneError,
};

#[derive(Debug, Clone)]
enum Op {
    TryPut,
    TryGet,
    /// `try_put_many` of this many new items.
    TryPutMany(usize),
    /// `try_get_many` of at most this many.
    TryGetMany(usize),
    TaskDone,
    Shutdown,
    ShutdownImmediate,
    /// Create a `put` future and poll it once; keep it if pending.
    StartPut,
    /// Create a `get` future and poll it once; keep it if pending.
    StartGet,
    PollPut(usize),
    PollGet(usize),
    DropPut(usize),
    DropGet(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::TryPut),
        3 => Just(Op::TryGet),
        2 => (1..=5usize).prop_map(Op::TryPutMany),
        2 => (1..=5usize).prop_map(Op::TryGetMany),
        2 => Just(Op::TaskDone),
        1 => Just(Op::Shutdown),
        1 => Just(Op::ShutdownImmediate),
        4 => Just(Op::StartPut),
        4 => Just(Op::StartGet),
        3 => any::<usize>().prop_map(Op::PollPut),
        3 => any::<usize>().prop_map(Op::PollGet),
        2 => any::<usize>().prop_map(Op::DropPut),
        2 => any::<usize>().prop_map(Op::DropGet),
    ]
}

fn config() -> impl Strategy<Value = (Option<usize>, Overflow)> {
    prop_oneof![
        (1..=4usize).prop_map(|cap| (Some(cap), Overflow::Block)),
        (1..=3usize).prop_map(|cap| (Some(cap), Overflow::Reject)),
        (1..=3usize).prop_map(|cap| (Some(cap), Overflow::DropOldest)),
        (1..=3usize).prop_map(|cap| (Some(cap), Overflow::DropNewest)),
        Just((None, Overflow::Block)),
    ]
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future of the real queue kept pending, with the model's id for it.
struct Pending<F> {
    id: usize,
    fut: F,
    wakes: Arc<CountingWaker>,
    /// Wake count when it was last polled.
    seen: usize,
}

impl<F: Future + Unpin> Pending<F> {
    fn new(id: usize, fut: F) -> Self {
        Pending {
            id,
            fut,
            wakes: Arc::default(),
            seen: 0,
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        self.seen = self.wakes.0.load(Ordering::SeqCst);
        let waker = Waker::from(self.wakes.clone());
        Pin::new(&mut self.fut).poll(&mut Context::from_waker(&waker))
    }

    fn woken_since_poll(&self) -> bool {
        self.wakes.0.load(Ordering::SeqCst) > self.seen
    }
}

/// The reference: a deque, FIFO lists of waiting futures and counters.
/// Grants follow the documented rules: an item arriving while getters wait
/// is promised to the oldest one, a slot freed while putters wait to the
/// oldest putter; a promise given up passes on; shutdown voids them all.
#[derive(Default)]
struct Model {
    cap: Option<usize>,
    policy: Overflow,
    items: VecDeque<u32>,
    getters: VecDeque<usize>,
    notified_getters: HashSet<usize>,
    putters: VecDeque<(usize, u32)>,
    notified_putters: HashSet<usize>,
    /// Items each pending put future holds.
    put_items: Vec<(usize, u32)>,
    granted_getters: usize,
    granted_putters: usize,
    unfinished: usize,
    shut_down: bool,
    stats: QueueStats,
    dropped: Vec<Dropped<u32>>,
}

enum Step<T> {
    Ready(T),
    Wait,
}

impl Model {
    fn free_slots(&self) -> usize {
        self.cap.map_or(usize::MAX, |cap| {
            cap - (self.items.len() + self.granted_putters)
        })
    }

    fn set_len(&mut self) {
        self.stats.len = self.items.len();
        self.stats.high_water = self.stats.high_water.max(self.items.len());
    }

    fn enqueue(&mut self, item: u32) {
        self.items.push_back(item);
        self.unfinished += 1;
        self.stats.put += 1;
        self.set_len();
        self.grant_getter();
    }

    fn grant_getter(&mut self) {
        if !self.shut_down && self.items.len() > self.granted_getters {
            if let Some(id) = self.getters.pop_front() {
                self.notified_getters.insert(id);
                self.granted_getters += 1;
            }
        }
    }

    fn dequeue(&mut self) -> Option<u32> {
        let item = self.items.pop_front()?;
        self.stats.got += 1;
        self.set_len();
        self.grant_putter();
        Some(item)
    }

    fn grant_putter(&mut self) {
        if !self.shut_down && self.free_slots() > 0 {
            if let Some((id, _)) = self.putters.pop_front() {
                self.notified_putters.insert(id);
                self.granted_putters += 1;
            }
        }
    }

    /// A put without waiting; `Wait` when it would have to wait (Block).
    fn admit(&mut self, item: u32, waits: bool) -> Step<Result<(), PutError<u32>>> {
        if self.shut_down {
            return Step::Ready(Err(PutError::Closed(item)));
        }
        if self.free_slots() > 0 {
            self.enqueue(item);
            return Step::Ready(Ok(()));
        }
        match self.policy {
            Overflow::Block if waits => Step::Wait,
            Overflow::Block | Overflow::Reject => {
                self.stats.rejected += 1;
                Step::Ready(Err(PutError::Full(item)))
            }
            Overflow::DropNewest => {
                self.stats.dropped_newest += 1;
                self.dropped.push(Dropped {
                    item,
                    reason: DropReason::DropNewest,
                });
                Step::Ready(Ok(()))
            }
            Overflow::DropOldest => {
                let oldest = self.items.pop_front().unwrap();
                self.unfinished = self.unfinished.saturating_sub(1);
                self.enqueue(item);
                self.stats.dropped_oldest += 1;
                self.dropped.push(Dropped {
                    item: oldest,
                    reason: DropReason::DropOldest,
                });
                Step::Ready(Ok(()))
            }
        }
    }

    /// `try_put_many`: as many `try_put`s as admit their item; the first
    /// that would not (full under `Block`/`Reject`, or shut down) stops it
    /// and, unlike `try_put`, is not counted as rejected. Returns how many
    /// went in.
    fn try_put_many(&mut self, items: &mut VecDeque<u32>) -> usize {
        let mut moved = 0;
        while let Some(&item) = items.front() {
            let dropping = matches!(self.policy, Overflow::DropNewest | Overflow::DropOldest);
            if self.shut_down || (self.free_slots() == 0 && !dropping) {
                break;
            }
            items.pop_front();
            let Step::Ready(Ok(())) = self.admit(item, false) else {
                unreachable!("an item with room or a dropping policy is admitted")
            };
            moved += 1;
        }
        moved
    }

    fn try_get(&mut self) -> Result<u32, GetError> {
        if self.items.len() > self.granted_getters {
            return Ok(self.dequeue().unwrap());
        }
        Err(if self.shut_down {
            GetError::Closed
        } else {
            GetError::Empty
        })
    }

    fn start_put(&mut self, id: usize, item: u32) -> Step<Result<(), PutError<u32>>> {
        let step = self.admit(item, true);
        if let Step::Wait = step {
            self.putters.push_back((id, item));
            self.put_items.push((id, item));
            self.stats.putters_waiting += 1;
        }
        step
    }

    fn start_get(&mut self, id: usize) -> Step<Option<u32>> {
        if self.items.len() > self.granted_getters {
            return Step::Ready(self.dequeue());
        }
        if self.shut_down {
            return Step::Ready(None);
        }
        self.getters.push_back(id);
        self.stats.getters_waiting += 1;
        Step::Wait
    }

    fn take_put_item(&mut self, id: usize) -> u32 {
        let at = self.put_items.iter().position(|&(i, _)| i == id).unwrap();
        self.stats.putters_waiting -= 1;
        self.putters.retain(|&(i, _)| i != id);
        self.put_items.remove(at).1
    }

    /// Whether a pending future would complete if polled now.
    fn put_can_finish(&self, id: usize) -> bool {
        self.shut_down || self.notified_putters.contains(&id)
    }

    fn get_can_finish(&self, id: usize) -> bool {
        self.shut_down || self.notified_getters.contains(&id)
    }

    fn poll_put(&mut self, id: usize) -> Step<Result<(), PutError<u32>>> {
        if self.shut_down {
            self.notified_putters.remove(&id);
            return Step::Ready(Err(PutError::Closed(self.take_put_item(id))));
        }
        if self.notified_putters.remove(&id) {
            self.granted_putters -= 1;
            let item = self.take_put_item(id);
            self.enqueue(item);
            return Step::Ready(Ok(()));
        }
        Step::Wait
    }

    fn poll_get(&mut self, id: usize) -> Step<Option<u32>> {
        let notified = self.notified_getters.remove(&id);
        if self.shut_down {
            self.getters.retain(|&g| g != id);
        } else if notified {
            self.granted_getters -= 1;
        } else {
            return Step::Wait;
        }
        self.stats.getters_waiting -= 1;
        Step::Ready(self.dequeue())
    }

    /// Returns the item the dropped put future held.
    fn drop_put(&mut self, id: usize) -> u32 {
        let item = self.take_put_item(id);
        if self.notified_putters.remove(&id) && !self.shut_down {
            self.granted_putters -= 1;
            self.grant_putter();
        }
        item
    }

    fn drop_get(&mut self, id: usize) {
        self.getters.retain(|&g| g != id);
        self.stats.getters_waiting -= 1;
        if self.notified_getters.remove(&id) && !self.shut_down {
            self.granted_getters -= 1;
            self.grant_getter();
        }
    }

    fn task_done(&mut self) -> Result<(), TaskDoneError> {
        if self.unfinished == 0 {
            return Err(TaskDoneError);
        }
        self.unfinished -= 1;
        Ok(())
    }

    fn shutdown(&mut self) {
        self.shut_down = true;
        self.stats.shut_down = true;
        self.granted_getters = 0;
        self.granted_putters = 0;
        self.getters.clear();
        self.putters.clear();
    }

    fn shutdown_immediate(&mut self) -> Vec<u32> {
        self.shutdown();
        let left: Vec<u32> = self.items.drain(..).collect();
        self.unfinished = self.unfinished.saturating_sub(left.len());
        self.set_len();
        left
    }
}

fn step_eq<T: PartialEq + std::fmt::Debug>(real: Poll<T>, model: Step<T>) -> Option<T> {
    match (real, model) {
        (Poll::Ready(r), Step::Ready(m)) => {
            assert_eq!(r, m);
            Some(r)
        }
        (Poll::Pending, Step::Wait) => None,
        (Poll::Ready(r), Step::Wait) => panic!("queue ready with {r:?}, model pending"),
        (Poll::Pending, Step::Ready(m)) => panic!("queue pending, model ready with {m:?}"),
    }
}

fn run(cap: Option<usize>, policy: Overflow, ops: &[Op]) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let queue: Queue<u32> = match cap {
        None => Queue::unbounded(),
        Some(cap) => {
            let sink = log.clone();
            let builder = Queue::builder(cap).overflow(policy);
            let builder = if policy.drops_items() {
                builder.on_drop(move |d| sink.lock().unwrap().push(d))
            } else {
                builder
            };
            builder.build().unwrap()
        }
    };
    let mut model = Model {
        cap,
        policy,
        stats: QueueStats {
            capacity: cap,
            ..QueueStats::default()
        },
        ..Model::default()
    };
    let mut puts = Vec::new();
    let mut gets = Vec::new();
    let mut next_item = 0u32;
    let mut next_id = 0usize;
    // Every item ends up here exactly once.
    let mut accounted: Vec<u32> = Vec::new();

    for op in ops {
        match *op {
            Op::TryPut => {
                let item = next_item;
                next_item += 1;
                let real = queue.try_put(item);
                let Step::Ready(expected) = model.admit(item, false) else {
                    unreachable!()
                };
                assert_eq!(real, expected);
                if let Err(err) = real {
                    accounted.push(err.into_inner());
                }
            }
            Op::TryGet => {
                let real = queue.try_get();
                assert_eq!(real, model.try_get());
                accounted.extend(real.ok());
            }
            Op::TryPutMany(n) => {
                let items: VecDeque<u32> = (next_item..next_item + n as u32).collect();
                next_item += n as u32;
                let (mut real, mut modelled) = (items.clone(), items);
                assert_eq!(
                    queue.try_put_many(&mut real),
                    model.try_put_many(&mut modelled)
                );
                assert_eq!(real, modelled);
                accounted.extend(real);
            }
            Op::TryGetMany(n) => {
                let mut real = Vec::new();
                queue.try_get_many(n, &mut real);
                let modelled: Vec<u32> = (0..n).map_while(|_| model.try_get().ok()).collect();
                assert_eq!(real, modelled);
                accounted.extend(real);
            }
            Op::TaskDone => assert_eq!(queue.task_done(), model.task_done()),
            Op::Shutdown => {
                queue.shutdown();
                model.shutdown();
            }
            Op::ShutdownImmediate => {
                let left = queue.shutdown_immediate();
                assert_eq!(left, model.shutdown_immediate());
                accounted.extend(left);
            }
            Op::StartPut => {
                let (id, item) = (next_id, next_item);
                next_id += 1;
                next_item += 1;
                let mut fut = Pending::new(id, queue.put(item));
                match step_eq(fut.poll(), model.start_put(id, item)) {
                    None => puts.push(fut),
                    Some(Err(err)) => accounted.push(err.into_inner()),
                    Some(Ok(())) => {}
                }
            }
            Op::StartGet => {
                let id = next_id;
                next_id += 1;
                let mut fut = Pending::new(id, queue.get());
                match step_eq(fut.poll(), model.start_get(id)) {
                    None => gets.push(fut),
                    Some(got) => accounted.extend(got),
                }
            }
            Op::PollPut(i) if !puts.is_empty() => {
                let i = i % puts.len();
                let id = puts[i].id;
                if let Some(done) = step_eq(puts[i].poll(), model.poll_put(id)) {
                    puts.remove(i);
                    if let Err(err) = done {
                        accounted.push(err.into_inner());
                    }
                }
            }
            Op::PollGet(i) if !gets.is_empty() => {
                let i = i % gets.len();
                let id = gets[i].id;
                if let Some(got) = step_eq(gets[i].poll(), model.poll_get(id)) {
                    gets.remove(i);
                    accounted.extend(got);
                }
            }
            Op::DropPut(i) if !puts.is_empty() => {
                let fut = puts.remove(i % puts.len());
                accounted.push(model.drop_put(fut.id));
                drop(fut);
            }
            Op::DropGet(i) if !gets.is_empty() => {
                let fut = gets.remove(i % gets.len());
                model.drop_get(fut.id);
                drop(fut);
            }
            Op::PollPut(_) | Op::PollGet(_) | Op::DropPut(_) | Op::DropGet(_) => {}
        }
        check(&queue, &model, &log, &puts, &gets);
    }

    // Wind down: drop what is pending, then take what is left.
    for fut in puts.drain(..) {
        accounted.push(model.drop_put(fut.id));
    }
    for fut in gets.drain(..) {
        model.drop_get(fut.id);
    }
    check(&queue, &model, &log, &puts, &gets);
    let left = queue.shutdown_immediate();
    assert_eq!(left, model.shutdown_immediate());
    accounted.extend(left);
    check(&queue, &model, &log, &puts, &gets);
    accounted.extend(log.lock().unwrap().iter().map(|d| d.item));
    accounted.sort_unstable();
    assert_eq!(
        accounted,
        (0..next_item).collect::<Vec<_>>(),
        "lost or duplicated"
    );
}

fn check<P: Future + Unpin, G: Future + Unpin>(
    queue: &Queue<u32>,
    model: &Model,
    log: &Mutex<Vec<Dropped<u32>>>,
    puts: &[Pending<P>],
    gets: &[Pending<G>],
) {
    let real = queue.stats();
    let expected = QueueStats {
        put_blocked: real.put_blocked,
        get_waited: real.get_waited,
        ..model.stats
    };
    assert_eq!(real, expected);
    assert_eq!(queue.len(), model.items.len());
    assert_eq!(queue.is_shut_down(), model.shut_down);
    if let Some(cap) = model.cap {
        assert!(real.len <= cap && real.high_water <= cap);
    }
    assert_eq!(*log.lock().unwrap(), model.dropped);
    // A waiter is woken exactly when it can make progress: no lost wake-up,
    // no spurious one.
    for put in puts {
        assert_eq!(put.woken_since_poll(), model.put_can_finish(put.id));
    }
    for get in gets {
        assert_eq!(get.woken_since_poll(), model.get_can_finish(get.id));
    }
}

proptest! {
    #[test]
    fn queue_agrees_with_model(
        (cap, policy) in config(),
        ops in proptest::collection::vec(op(), 0..80),
    ) {
        run(cap, policy, &ops);
    }
}

#[test]
fn model_smoke_blocking_round_trip() {
    use Op::*;
    run(
        Some(1),
        Overflow::Block,
        &[
            TryPut,
            StartPut,
            StartPut,
            StartGet,
            DropPut(0),
            PollPut(0),
            TaskDone,
            TaskDone,
            ShutdownImmediate,
            TaskDone,
        ],
    );
}
