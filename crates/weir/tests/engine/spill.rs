//! Spill links: records overflow to disk in order, the disk budget blocks
//! instead of dropping, sources hear a record was handed off only once it
//! is on disk while the books wait for its real outcome, a stopped run
//! leaves its spilled records to the next, and corrupt bytes are skipped,
//! reported and counted.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::AckingSource;
use tokio::sync::watch;
use weir::io::{iter_source, Sink, Source, SourceItem};
use weir::spill::{SpillConfig, SpillError, SpillSync};
use weir::{BoxError, LinkConfig, Outcome, Pipeline, RunReport};

/// A sink that writes only while its gate is open, keeping what it wrote.
#[derive(Clone)]
struct GatedSink {
    gate: watch::Receiver<bool>,
    out: Arc<Mutex<Vec<u64>>>,
}

impl GatedSink {
    fn new(open: bool) -> (watch::Sender<bool>, Self) {
        let (tx, gate) = watch::channel(open);
        let out = Arc::default();
        (tx, GatedSink { gate, out })
    }
}

impl Sink<u64> for GatedSink {
    async fn write(&mut self, item: &u64) -> Result<(), BoxError> {
        self.gate.wait_for(|open| *open).await?;
        self.out.lock().unwrap().push(*item);
        Ok(())
    }
}

fn links(capacity: usize) -> LinkConfig {
    LinkConfig {
        capacity,
        ..LinkConfig::default()
    }
}

fn gauge(report: &RunReport, stage: &str, name: &str) -> f64 {
    let stage = report
        .snapshot
        .stages
        .iter()
        .find(|s| &*s.name == stage)
        .unwrap();
    stage.gauges.iter().find(|(n, _)| &**n == name).unwrap().1
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached in 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_come_back_in_order_and_finished_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SpillConfig::new(dir.path());
    config.segment_bytes = 8 * 1024;
    let (_open, sink) = GatedSink::new(true);
    let out = sink.out.clone();
    let slow = {
        let out = out.clone();
        move || out.lock().unwrap().len()
    };
    let running = Pipeline::builder()
        .links(links(8))
        .source("numbers", iter_source(0..20_000u64))
        .spill(config)
        .unwrap()
        .stage(
            "slow",
            // Pauses without blocking a runtime thread, so that the link's
            // writer runs, sees its memory full, and spills.
            weir::stage::Stage::map_async(|n: u64| async move {
                if n.is_multiple_of(1000) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(n)
            }),
        )
        .sink("out", sink)
        .start();
    let report = running.wait().await;
    assert!(slow() == 20_000);
    assert_eq!(*out.lock().unwrap(), (0..20_000).collect::<Vec<_>>());
    assert!(report.accounting.balances(), "{}", report.accounting);
    assert_eq!(report.accounting.delivered, 20_000);
    let spilled = gauge(&report, "slow", "spill_spilled_total");
    assert!(spilled > 1000.0, "{spilled} spilled");
    assert_eq!(
        gauge(&report, "slow", "spill_spilled_total"),
        gauge(&report, "slow", "spill_replayed_total")
    );
    assert_eq!(gauge(&report, "slow", "spill_records_on_disk"), 0.0);
    assert!(
        segments(dir.path()).is_empty(),
        "{:?}",
        segments(dir.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_hears_spilled_once_synced_while_the_books_wait_for_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (source, outcomes) = AckingSource::new(200);
    let (open, sink) = GatedSink::new(false);
    let out = sink.out.clone();
    let running = Pipeline::builder()
        .links(links(4))
        .source("told", source)
        .spill(SpillConfig::new(dir.path()))
        .unwrap()
        .sink("out", sink)
        .start();
    let monitor = running.monitor();
    let spilled = || {
        let outcomes = outcomes.lock().unwrap();
        outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Spilled { stage } if &**stage == "out"))
            .count()
    };
    wait_until(|| spilled() >= 190).await;
    let books = monitor.snapshot().accounting;
    assert_eq!(books.received, 200);
    assert_eq!(books.finished(), 0, "handed off is not finished: {books}");
    assert!(out.lock().unwrap().is_empty());
    open.send(true).unwrap();
    let report = running.wait().await;
    assert_eq!(report.accounting.delivered, 200);
    assert!(report.accounting.balances(), "{}", report.accounting);
    let outcomes = outcomes.lock().unwrap();
    let mut told: Vec<u64> = outcomes.iter().map(|(n, _)| *n).collect();
    told.sort_unstable();
    assert_eq!(
        told,
        (0..200).collect::<Vec<_>>(),
        "each source record told once"
    );
    assert_eq!(*out.lock().unwrap(), (0..200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_budget_blocks_the_producer_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SpillConfig::new(dir.path());
    config.max_bytes = 64 * 1024;
    let (open, sink) = GatedSink::new(false);
    let out = sink.out.clone();
    let running = Pipeline::builder()
        .links(links(4))
        .source("numbers", iter_source(0..20_000u64))
        .spill(config)
        .unwrap()
        .sink("out", sink)
        .start();
    let monitor = running.monitor();
    let on_disk = || {
        let snapshot = monitor.snapshot();
        let out = snapshot.stages.iter().find(|s| &*s.name == "out").unwrap();
        let read = |name: &str| out.gauges.iter().find(|(n, _)| &**n == name).unwrap().1;
        (read("spill_bytes_on_disk"), snapshot.stages[0].records_out)
    };
    // The disk fills to its budget, then the source stops being read.
    wait_until(|| on_disk().0 > 60.0 * 1024.0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (bytes, read) = on_disk();
    assert!(bytes <= 64.0 * 1024.0, "{bytes} bytes on disk");
    assert!(
        read < 10_000,
        "the source was read {read} times: not blocked"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(on_disk().1, read, "the source is blocked");
    open.send(true).unwrap();
    let report = running.wait().await;
    assert_eq!(report.accounting.delivered, 20_000);
    assert_eq!(report.accounting.dropped, 0);
    assert_eq!(*out.lock().unwrap(), (0..20_000).collect::<Vec<_>>());
}

/// Runs `0..n` into a spill whose sink never writes, stops the run once
/// `spilled` records are on disk, and returns the numbers the source
/// heard were spilled.
async fn stop_with_records_on_disk(
    dir: &Path,
    n: u64,
    spilled: usize,
    sync: SpillSync,
) -> Vec<u64> {
    let (source, outcomes) = AckingSource::new(n);
    let (_closed, sink) = GatedSink::new(false);
    let mut config = SpillConfig::new(dir);
    config.sync = sync;
    let running = Pipeline::builder()
        .links(links(4))
        .source("told", source)
        .spill(config)
        .unwrap()
        .sink("out", sink)
        .start();
    let count = || {
        let outcomes = outcomes.lock().unwrap();
        outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Spilled { .. }))
            .count()
    };
    wait_until(|| count() >= spilled).await;
    running.shutdown_handle().stop_now();
    let report = running.wait().await;
    assert!(report.accounting.balances(), "{}", report.accounting);
    assert_eq!(report.accounting.delivered, 0);
    let outcomes = outcomes.lock().unwrap();
    let mut told: Vec<u64> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Spilled { .. }))
        .map(|(n, _)| *n)
        .collect();
    told.sort_unstable();
    told
}

async fn replay(dir: &Path) -> (RunReport, Vec<u64>) {
    let (_open, sink) = GatedSink::new(true);
    let out = sink.out.clone();
    let report = Pipeline::builder()
        .links(links(4))
        .source("nothing", iter_source(std::iter::empty::<u64>()))
        .spill(SpillConfig::new(dir))
        .unwrap()
        .sink("out", sink)
        .run()
        .await;
    let out = out.lock().unwrap().clone();
    (report, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_leaves_its_spilled_records_to_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let spilled = stop_with_records_on_disk(dir.path(), 1000, 500, SpillSync::Always).await;
    let (report, out) = replay(dir.path()).await;
    // Every record the source was told is on disk comes back, in order;
    // records written but not yet handed off may come back too.
    assert!(out.windows(2).all(|w| w[0] < w[1]), "in order");
    for n in &spilled {
        assert!(out.binary_search(n).is_ok(), "{n} lost");
    }
    assert_eq!(report.accounting.received, out.len() as u64);
    assert_eq!(report.accounting.delivered, out.len() as u64);
    let status = report
        .snapshot
        .stages
        .iter()
        .find(|s| &*s.name == "out")
        .unwrap();
    let said = status.status.clone().unwrap_or_default();
    assert!(
        said.contains(&format!(
            "replaying {} records spilled by an earlier run",
            out.len()
        )),
        "{said}"
    );
    assert!(segments(dir.path()).is_empty());
    // Nothing is left: a third run replays nothing.
    let (report, out) = replay(dir.path()).await;
    assert!(out.is_empty());
    assert_eq!(report.accounting.received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_and_a_flipped_byte_are_skipped_reported_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    stop_with_records_on_disk(dir.path(), 1000, 500, SpillSync::Batch).await;
    let files = segments(dir.path());
    let on_disk: Vec<u64> = files.iter().flat_map(|file| records_in(file)).collect();
    let first = &files[0];
    let mut bytes = fs::read(first).unwrap();
    bytes[20] ^= 0x01; // the first byte of the first record's payload
    fs::write(first, &bytes).unwrap();
    let last = files.last().unwrap();
    let mut bytes = fs::read(last).unwrap();
    bytes.extend_from_slice(&[7, 0, 0, 0, 1, 2, 3]); // a header cut short
    fs::write(last, &bytes).unwrap();

    let (report, out) = replay(dir.path()).await;
    assert_eq!(out, on_disk[1..], "all but the flipped record, in order");
    assert_eq!(report.accounting.dead_lettered, 2, "{}", report.accounting);
    assert_eq!(report.accounting.received, on_disk.len() as u64 + 1);
    assert!(report.accounting.balances(), "{}", report.accounting);
    assert_eq!(gauge(&report, "out", "spill_corrupt_total"), 2.0);
    let said = report
        .snapshot
        .stages
        .iter()
        .find(|s| &*s.name == "out")
        .unwrap();
    let said = said.status.clone().unwrap_or_default();
    assert!(
        said.contains("cut a torn record (7 bytes) off the end of"),
        "{said}"
    );
    let name = last.file_name().unwrap().to_string_lossy().to_string();
    assert!(said.contains(&name), "{said}");
    assert!(segments(dir.path()).is_empty());
}

/// The numbers in a segment file's whole records.
fn records_in(file: &Path) -> Vec<u64> {
    let bytes = fs::read(file).unwrap();
    let mut at = 0;
    let mut numbers = Vec::new();
    while at + 20 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let payload = &bytes[at + 20..at + 20 + len];
        numbers.push(serde_json::from_slice(payload).unwrap());
        at += 20 + len;
    }
    numbers
}

#[tokio::test]
async fn a_spill_directory_is_locked_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let (_open, sink) = GatedSink::new(true);
    let first = Pipeline::builder()
        .source("a", iter_source(0..1u64))
        .spill(SpillConfig::new(dir.path()))
        .unwrap();
    let second = Pipeline::builder()
        .source("b", iter_source(0..1u64))
        .spill(SpillConfig::new(dir.path()));
    assert!(matches!(second, Err(SpillError::Locked { .. })));
    let report = first.sink("out", sink).run().await;
    assert_eq!(report.accounting.delivered, 1);
}

/// Numbers `0..end`, each with the origin `numbers:N`.
struct Numbered {
    next: u64,
    end: u64,
}

impl Source<u64> for Numbered {
    async fn next(&mut self) -> Option<SourceItem<u64>> {
        if self.next == self.end {
            return None;
        }
        self.next += 1;
        Some(SourceItem::Record((self.next - 1).into()))
    }

    fn take_origin(&mut self) -> Option<Arc<str>> {
        Some(format!("numbers:{}", self.next - 1).into())
    }
}

/// Records written, each with its origin.
type Written = Arc<Mutex<Vec<(u64, Option<String>)>>>;

/// A sink that writes only while its gate is open, keeping each record's
/// origin.
struct OriginSink {
    gate: watch::Receiver<bool>,
    out: Written,
}

impl Sink<u64> for OriginSink {
    async fn write(&mut self, item: &u64) -> Result<(), BoxError> {
        self.write_from(item, None).await
    }

    async fn write_from(&mut self, item: &u64, origin: Option<&str>) -> Result<(), BoxError> {
        self.gate.wait_for(|open| *open).await?;
        self.out
            .lock()
            .unwrap()
            .push((*item, origin.map(str::to_owned)));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_keeps_its_origin_through_the_spill_and_into_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let out: Written = Arc::default();
    let run = |end: u64, open: bool| {
        let (gate_tx, gate) = watch::channel(open);
        let sink = OriginSink {
            gate,
            out: out.clone(),
        };
        let running = Pipeline::builder()
            .links(links(4))
            .source("numbers", Numbered { next: 0, end })
            .spill(SpillConfig::new(dir.path()))
            .unwrap()
            .sink("out", sink)
            .start();
        (gate_tx, running)
    };
    // This run: the sink holds until records are on disk, then takes them
    // back from it.
    let (gate, running) = run(500, false);
    wait_until(|| !segments(dir.path()).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    gate.send(true).unwrap();
    let report = running.wait().await;
    assert!(gauge(&report, "out", "spill_replayed_total") > 0.0);
    let mut seen = std::mem::take(&mut *out.lock().unwrap());
    assert_eq!(seen.len(), 500);
    for (n, origin) in &seen {
        assert_eq!(origin.as_deref(), Some(&*format!("numbers:{n}")));
    }
    // A run stopped with records on disk; the next run reads them back
    // with their origins.
    let (_closed, running) = run(300, false);
    wait_until(|| !segments(dir.path()).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.shutdown_handle().stop_now();
    running.wait().await;
    let (_open, running) = run(0, true);
    let report = running.wait().await;
    seen = std::mem::take(&mut *out.lock().unwrap());
    assert!(!seen.is_empty(), "records replayed");
    assert_eq!(report.accounting.delivered, seen.len() as u64);
    for (n, origin) in &seen {
        assert_eq!(origin.as_deref(), Some(&*format!("numbers:{n}")));
    }
}
