//! The per-operation timeout shared by every limiter: which part timed out,
//! and what happens to the permit.

use std::time::Duration;

use weir_core::limit::{
    AdaptiveConcurrency, AdaptiveConfig, ConcurrencyLimit, Limiter, OpTimeout, Phase, Rate,
    RateLimit, TimedOut,
};

const MS: Duration = Duration::from_millis(1);

async fn work(for_: Duration) -> &'static str {
    tokio::time::sleep(for_).await;
    "done"
}

#[tokio::test(start_paused = true)]
async fn total_budget_covers_the_wait_and_the_work() {
    let limit = ConcurrencyLimit::new(1);
    let held = limit.acquire().await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(30 * MS).await;
        drop(held);
    });
    // 30ms waiting + 30ms work fits 100ms...
    let ok = limit.run_with_timeout(work(30 * MS), 100 * MS).await;
    assert_eq!(ok, Ok("done"));
    release.await.unwrap();

    // ...but 30ms waiting + 80ms work does not, and the work is to blame.
    let held = limit.acquire().await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(30 * MS).await;
        drop(held);
    });
    let err = limit
        .run_with_timeout(work(80 * MS), OpTimeout::Total(100 * MS))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TimedOut {
            phase: Phase::Work,
            waited: 30 * MS,
            elapsed: 100 * MS
        }
    );
    release.await.unwrap();
    assert_eq!(
        limit.in_flight(),
        0,
        "the timed-out work's permit is released"
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_wait_is_reported_as_the_acquire_phase() {
    let limit = ConcurrencyLimit::new(1);
    let _held = limit.acquire().await;
    let polled = std::cell::Cell::new(false);
    let err = limit
        .run_with_timeout(async { polled.set(true) }, 50 * MS)
        .await
        .unwrap_err();
    assert_eq!(err.phase, Phase::Acquire);
    assert_eq!((err.waited, err.elapsed), (50 * MS, 50 * MS));
    assert!(
        !polled.get(),
        "the work must not start after an acquire timeout"
    );
    assert_eq!(limit.stats().waiting, 0);
    assert_eq!(
        err.to_string(),
        "timed out waiting for a permit after 50ms (of which 50ms waiting for a permit)"
    );
}

#[tokio::test(start_paused = true)]
async fn work_only_budget_waits_as_long_as_needed() {
    let limit = RateLimit::new(Rate::per_second(1));
    limit.acquire().await;
    // The next slot is 1s away; only the work (10ms) is timed.
    let ok = limit
        .run_with_timeout(work(10 * MS), OpTimeout::Work(20 * MS))
        .await;
    assert_eq!(ok, Ok("done"));
    let err = limit
        .run_with_timeout(work(30 * MS), OpTimeout::Work(20 * MS))
        .await
        .unwrap_err();
    assert_eq!(err.phase, Phase::Work);
    assert_eq!(err.elapsed - err.waited, 20 * MS);
}

#[tokio::test(start_paused = true)]
async fn split_budgets_are_separate() {
    let split = OpTimeout::Split {
        acquire: 50 * MS,
        work: 50 * MS,
    };
    let limit = RateLimit::new(Rate::per_second(10)); // one per 100ms
    limit.acquire().await;
    let err = limit.run_with_timeout(work(MS), split).await.unwrap_err();
    assert_eq!((err.phase, err.waited), (Phase::Acquire, 50 * MS));
    tokio::time::sleep(50 * MS).await;
    // The slot is free now: 40ms of work fits its own 50ms.
    assert_eq!(
        limit.run_with_timeout(work(40 * MS), split).await,
        Ok("done")
    );
    tokio::time::sleep(60 * MS).await; // to the next slot, at 200ms
    let err = limit
        .run_with_timeout(work(60 * MS), split)
        .await
        .unwrap_err();
    assert_eq!(err.phase, Phase::Work);
    assert_eq!(err.elapsed - err.waited, 50 * MS);
}

#[tokio::test(start_paused = true)]
async fn adaptive_work_timeouts_count_as_overload() {
    let limiter = AdaptiveConcurrency::new(AdaptiveConfig {
        initial_limit: 10,
        ..AdaptiveConfig::aimd()
    })
    .unwrap();
    assert_eq!(
        limiter.run_with_timeout(work(5 * MS), 20 * MS).await,
        Ok("done")
    );
    let err = limiter
        .run_with_timeout(work(50 * MS), 20 * MS)
        .await
        .unwrap_err();
    assert_eq!(err.phase, Phase::Work);
    let stats = limiter.stats();
    assert_eq!(
        (stats.successes, stats.overloaded, stats.in_flight),
        (1, 1, 0)
    );
    assert_eq!(stats.limit, 9);
}

#[tokio::test(start_paused = true)]
async fn ready_work_succeeds_even_with_a_zero_budget() {
    let limit = ConcurrencyLimit::new(1);
    assert_eq!(
        limit.run_with_timeout(async { 7 }, Duration::ZERO).await,
        Ok(7)
    );
}
