#![cfg(weir_loom)]
//! Loom models of the queue's concurrent core: every interleaving (up to a
//! preemption bound) of a few threads using `put`, `get`, `try_*` and
//! shutdown. A lost wake-up shows up as a deadlock, which loom reports.
//!
//! ```text
//! CARGO_TARGET_DIR=target-loom RUSTFLAGS="--cfg weir_loom" \
//!     cargo test -p weir-core --test loom_queue --release -- --test-threads=2
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use loom::future::block_on;
use loom::thread;
use weir_core::{PutError, Queue};

fn model(preemption_bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemption_bound);
    builder.check(f);
}

/// Gets until `None` (the queue must be shut down by then).
async fn drain(queue: &Queue<u32>) -> Vec<u32> {
    let mut items = Vec::new();
    while let Some(item) = queue.get().await {
        items.push(item);
    }
    items
}

#[test]
fn one_putter_one_getter_capacity_one_two_items() {
    model(3, || {
        let queue = Queue::bounded(1);
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                block_on(async {
                    for n in 0..2 {
                        queue.put(n).await.unwrap();
                    }
                });
            })
        };
        let got = block_on(async { [queue.get().await, queue.get().await] });
        producer.join().unwrap();
        assert_eq!(got, [Some(0), Some(1)]);
        assert!(queue.is_empty());
        assert!(queue.stats().high_water <= 1);
    });
}

#[test]
fn one_putter_one_getter_capacity_one_three_items() {
    model(3, || {
        let queue = Queue::bounded(1);
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                block_on(async {
                    for n in 0..3 {
                        queue.put(n).await.unwrap();
                    }
                });
                queue.shutdown();
            })
        };
        let got = block_on(drain(&queue));
        producer.join().unwrap();
        assert_eq!(got, [0, 1, 2]);
        let stats = queue.stats();
        assert_eq!((stats.put, stats.got, stats.len), (3, 3, 0));
        assert_eq!((stats.putters_waiting, stats.getters_waiting), (0, 0));
    });
}

#[test]
fn two_putters_one_getter_capacity_one() {
    model(3, || {
        let queue = Queue::bounded(1);
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|n| {
                let queue = queue.clone();
                thread::spawn(move || block_on(queue.put(n)).unwrap())
            })
            .collect();
        let mut got = block_on(async { [queue.get().await, queue.get().await] });
        for producer in producers {
            producer.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [Some(1), Some(2)]);
        assert!(queue.is_empty());
        assert_eq!(queue.stats().putters_waiting, 0);
    });
}

#[test]
fn getter_racing_graceful_shutdown_drains_then_ends() {
    model(3, || {
        let queue = Queue::bounded(1);
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()))
        };
        queue.try_put(7).unwrap();
        queue.shutdown();
        // Graceful shutdown: the getter drains the item, whether it was
        // already waiting or arrives after the shutdown.
        assert_eq!(getter.join().unwrap(), Some(7));
        assert_eq!(queue.try_get(), Err(weir_core::GetError::Closed));
    });
}

#[test]
fn getter_racing_immediate_shutdown_never_loses_the_item() {
    model(3, || {
        let queue = Queue::bounded(1);
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()))
        };
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || queue.try_put(7))
        };
        let left = queue.shutdown_immediate();
        let got = getter.join().unwrap();
        let put = putter.join().unwrap();
        // The item ends in exactly one place.
        let mut places = Vec::new();
        places.extend(got);
        places.extend(left);
        places.extend(put.err().map(PutError::into_inner));
        places.extend(queue.shutdown_immediate());
        assert_eq!(places, [7]);
        assert_eq!(queue.stats().getters_waiting, 0);
    });
}

#[test]
fn put_racing_shutdown_is_either_queued_or_closed() {
    model(3, || {
        let queue = Queue::bounded(1);
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.put(1)))
        };
        queue.shutdown();
        let result = putter.join().unwrap();
        let drained = block_on(drain(&queue));
        match result {
            Ok(()) => assert_eq!(drained, [1]),
            Err(err) => {
                assert_eq!(err, PutError::Closed(1));
                assert!(drained.is_empty());
            }
        }
    });
}

#[test]
fn waiting_put_racing_shutdown_is_either_queued_or_closed() {
    model(3, || {
        // Full: the put must wait for the getter to free the slot.
        let queue = Queue::bounded(1);
        queue.try_put(0).unwrap();
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.put(1)))
        };
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()))
        };
        queue.shutdown();
        let result = putter.join().unwrap();
        // Graceful shutdown lets the getter drain the first item.
        assert_eq!(getter.join().unwrap(), Some(0));
        let drained = block_on(drain(&queue));
        match result {
            Ok(()) => assert_eq!(drained, [1]),
            Err(err) => {
                assert_eq!(err, PutError::Closed(1));
                assert!(drained.is_empty());
            }
        }
        assert_eq!(queue.stats().putters_waiting, 0);
    });
}

#[test]
fn cancelled_getter_racing_a_put_loses_nothing() {
    model(3, || {
        let queue = Queue::<u32>::bounded(1);
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || queue.try_put(5).unwrap())
        };
        // Poll a get once (it may register as a waiter and may then be
        // granted the item), then drop it.
        let first = block_on(async {
            let mut get = queue.get();
            std::future::poll_fn(|cx| match Pin::new(&mut get).poll(cx) {
                Poll::Ready(item) => Poll::Ready(item),
                Poll::Pending => Poll::Ready(None),
            })
            .await
        });
        putter.join().unwrap();
        let rest = queue.try_get().ok();
        let mut places: Vec<u32> = first.into_iter().chain(rest).collect();
        places.extend(queue.shutdown_immediate());
        assert_eq!(places, [5]);
    });
}

#[test]
fn two_getters_one_putter_capacity_one() {
    model(3, || {
        let queue = Queue::bounded(1);
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || block_on(queue.get()))
            })
            .collect();
        block_on(async {
            queue.put(1).await.unwrap();
            queue.put(2).await.unwrap();
        });
        let mut got: Vec<_> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [Some(1), Some(2)]);
        assert_eq!(queue.stats().getters_waiting, 0);
    });
}

#[test]
fn cancelled_putter_passes_its_slot_to_the_next_putter() {
    model(3, || {
        let queue = Queue::bounded(1);
        queue.try_put(0).unwrap();
        // Polls a put once, then drops it: true if it queued its item.
        let quitter = {
            let queue = queue.clone();
            thread::spawn(move || {
                block_on(async {
                    let mut put = queue.put(1);
                    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut put).poll(cx))).await
                })
                .is_ready()
            })
        };
        let patient = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.put(2)).unwrap())
        };
        let mut got = vec![block_on(queue.get()).unwrap()];
        let quitter_queued = quitter.join().unwrap();
        // If the quitter was granted the slot and gave up, the patient
        // putter must get it, or this get would wait forever.
        got.push(block_on(queue.get()).unwrap());
        if quitter_queued {
            got.push(block_on(queue.get()).unwrap());
        }
        patient.join().unwrap();
        assert_eq!(got[0], 0);
        got.sort_unstable();
        let expected: &[u32] = if quitter_queued { &[0, 1, 2] } else { &[0, 2] };
        assert_eq!(got, expected);
        assert!(queue.is_empty());
        assert_eq!(queue.stats().putters_waiting, 0);
    });
}
