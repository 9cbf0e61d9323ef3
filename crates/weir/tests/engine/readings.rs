//! What a stage's function tells about itself reaches the snapshots the
//! live view, the reports and `/metrics` are drawn from: its gauges, its
//! status, the retries it makes inside an attempt; and a dead letter's
//! `attempts` counts the attempts the function made itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use weir::io::{iter_source, sink_fn, DeadLetter, DeadLetterSink};
use weir::stage::{AttemptsError, Stage};
use weir::{BoxError, Pipeline};

#[derive(Clone, Default)]
struct Letters(Arc<Mutex<Vec<(u32, String)>>>);

impl DeadLetterSink for Letters {
    async fn write(&mut self, letter: &DeadLetter) -> Result<(), BoxError> {
        self.0
            .lock()
            .unwrap()
            .push((letter.attempts, letter.reason.clone()));
        Ok(())
    }
}

#[tokio::test]
async fn gauges_status_and_inner_retries_reach_the_snapshot() {
    let inner = Arc::new(AtomicU64::new(0));
    let counted = inner.clone();
    let stage = Stage::map(move |n: u32| {
        counted.fetch_add(2, Ordering::Relaxed);
        Ok(n)
    })
    .gauge("limit", || 37.0)
    .status(|| Some("paused: HTTP 503 from 127.0.0.1:1".to_owned()))
    .retries_inside(move || inner.load(Ordering::Relaxed));
    let report = Pipeline::builder()
        .source("numbers", iter_source(0..5u32))
        .stage("call", stage)
        .sink("out", sink_fn(|_: &u32| Ok(())))
        .run()
        .await;
    let call = report
        .snapshot
        .stages
        .iter()
        .find(|s| s.name.as_ref() == "call")
        .unwrap();
    assert_eq!(call.gauges, vec![("limit".into(), 37.0)]);
    assert_eq!(
        call.status.as_deref(),
        Some("paused: HTTP 503 from 127.0.0.1:1")
    );
    assert_eq!(call.retries, 10, "2 inner retries for each of 5 records");
    let out = report.snapshot.stages.last().unwrap();
    assert!(out.gauges.is_empty() && out.status.is_none());
}

#[tokio::test]
async fn a_dead_letter_counts_the_attempts_made_inside() {
    let letters = Letters::default();
    let report = Pipeline::builder()
        .source("numbers", iter_source(0..2u32))
        .stage(
            "call",
            Stage::map(|n: u32| {
                if n == 0 {
                    return Err(Box::new(AttemptsError {
                        attempts: 4,
                        error: "HTTP 500 after 4 attempts".into(),
                    }) as BoxError);
                }
                Err("plain failure".into())
            }),
        )
        .sink("out", sink_fn(|_: &u32| Ok(())))
        .dead_letters(letters.clone())
        .run()
        .await;
    assert_eq!(report.accounting.dead_lettered, 2);
    let mut letters = letters.0.lock().unwrap().clone();
    letters.sort();
    assert_eq!(
        letters,
        vec![
            (1, "plain failure".to_owned()),
            (4, "HTTP 500 after 4 attempts".to_owned()),
        ]
    );
}
