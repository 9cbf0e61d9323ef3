//! The synchronisation primitives the queue's core is built on, swapped for
//! loom's model-checked versions under `--cfg weir_loom` (see
//! `tests/loom_queue.rs`). A custom cfg name is used instead of plain `loom`
//! so that tokio, which has its own `cfg(loom)` code, builds normally.
//!
//! Outside loom the mutex is `parking_lot`'s: its adaptive spinning measured
//! 1P/1C cap 1024 at ~4.3 M items/s against ~3.5 M/s with `std::sync::Mutex`
//! (`weir-bench child queue weir 1 1 1024 1000000 3`).

#[cfg(not(weir_loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};
#[cfg(not(weir_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc,
};

#[cfg(weir_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Locks `mutex`, ignoring poisoning: the queue's state is updated by code
/// that does not panic between related writes, so a panic elsewhere while the
/// lock was held leaves it consistent.
#[cfg(weir_loom)]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(not(weir_loom))]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock()
}
