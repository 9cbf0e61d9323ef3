//! Spill links (`weir::spill`): what writing records to disk and reading
//! them back costs, and what a spill link costs when it never fills.
//!
//! 1. Write + replay of 200-byte records: every record written while the
//!    consumer is held, then all read back, through a pipeline with a spill
//!    link (sync `batch`); against the floor, plain buffered appends of the
//!    same bytes to a file with an fsync every 100 ms, then read back; and
//!    against SQLite in WAL mode (rusqlite, bundled) doing the same job
//!    directly (no pipeline): inserts in transactions of 256, the WAL
//!    fsynced every 100 ms, then read in order and deleted in chunks
//!    (built with `--features sqlite` only: SQLite's C sources are not
//!    compiled otherwise). Target: the spill link ≥ 0.5x the floor.
//! 2. A pipeline whose spill link never fills (the consumer is faster than
//!    the producer) against the same pipeline with `block`. Target ≥ 0.95x.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Notify;
use weir::io::{iter_source, sink_fn, Sink};
use weir::spill::SpillConfig;
use weir::{BoxError, LinkConfig, Pipeline};

use crate::report::{self, Table, Target};
use crate::Opts;

const RECORDS: u64 = 500_000;
const RECORD_BYTES: usize = 200;
const SYNC_EVERY: Duration = Duration::from_millis(100);
const BATCH: usize = 256;
const NEVER_FILLS: u64 = 1_000_000;

/// A 200-byte record (as its JSON string, 200 bytes with the quotes).
fn record(n: u64) -> String {
    let mut text = format!("{n:020}");
    text.extend(std::iter::repeat_n('x', RECORD_BYTES - 2 - text.len()));
    text
}

/// A sink that holds every record until `open` is notified.
struct HeldSink {
    open: Arc<Notify>,
    opened: bool,
}

impl Sink<String> for HeldSink {
    async fn write(&mut self, item: &String) -> Result<(), BoxError> {
        if !self.opened {
            self.open.notified().await;
            self.opened = true;
        }
        std::hint::black_box(item);
        Ok(())
    }
}

async fn spill_link(records: u64, dir: &Path) -> Duration {
    let open = Arc::new(Notify::new());
    let done = Arc::new(AtomicBool::new(false));
    let (opener, ended) = (open.clone(), done.clone());
    let source = iter_source((0..records).map(move |n| {
        if n + 1 == records {
            ended.store(true, Ordering::Release);
        }
        record(n)
    }));
    let start = Instant::now();
    let running = Pipeline::builder()
        .links(LinkConfig {
            capacity: 64,
            ..LinkConfig::default()
        })
        .source("records", source)
        .spill(SpillConfig::new(dir))
        .expect("open the spill")
        .sink(
            "held",
            HeldSink {
                open,
                opened: false,
            },
        )
        .start();
    while !done.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    opener.notify_one();
    let report = running.wait().await;
    assert_eq!(report.accounting.delivered, records, "records lost");
    start.elapsed()
}

/// The floor: the same bytes appended with a buffered writer, fsynced every
/// 100 ms, then read back.
fn floor(records: u64, dir: &Path) -> Duration {
    let path = dir.join("floor.log");
    let start = Instant::now();
    let mut file = BufWriter::with_capacity(256 * 1024, File::create(&path).expect("create"));
    let mut last_sync = Instant::now();
    for n in 0..records {
        file.write_all(record(n).as_bytes()).expect("write");
        if n % BATCH as u64 == 0 && last_sync.elapsed() >= SYNC_EVERY {
            file.flush().expect("flush");
            file.get_ref().sync_data().expect("sync");
            last_sync = Instant::now();
        }
    }
    file.flush().expect("flush");
    file.get_ref().sync_data().expect("sync");
    drop(file);
    let mut read = BufReader::with_capacity(256 * 1024, File::open(&path).expect("open"));
    let mut buf = vec![0u8; RECORD_BYTES - 2];
    for _ in 0..records {
        read.read_exact(&mut buf).expect("read");
        std::hint::black_box(&buf);
    }
    let took = start.elapsed();
    let _ = std::fs::remove_file(&path);
    took
}

/// SQLite in WAL mode doing the spill's job directly.
#[cfg(feature = "sqlite")]
fn sqlite(records: u64, dir: &Path) -> Duration {
    let path = dir.join("spill.db");
    let start = Instant::now();
    let mut db = rusqlite::Connection::open(&path).expect("open sqlite");
    db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    // The WAL is fsynced by hand every 100 ms, the same cadence as the rest.
    db.pragma_update(None, "synchronous", "OFF")
        .expect("sync off");
    db.execute(
        "CREATE TABLE spill (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
        [],
    )
    .expect("create");
    let wal = dir.join("spill.db-wal");
    let mut last_sync = Instant::now();
    let mut n = 0;
    while n < records {
        let tx = db.transaction().expect("begin");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO spill (seq, payload) VALUES (?1, ?2)")
                .expect("prepare");
            for _ in 0..BATCH.min((records - n) as usize) {
                insert
                    .execute(rusqlite::params![n as i64, record(n).as_bytes()])
                    .expect("insert");
                n += 1;
            }
        }
        tx.commit().expect("commit");
        if last_sync.elapsed() >= SYNC_EVERY {
            File::open(&wal)
                .and_then(|f| f.sync_data())
                .expect("sync wal");
            last_sync = Instant::now();
        }
    }
    File::open(&wal)
        .and_then(|f| f.sync_data())
        .expect("sync wal");
    let mut from = 0i64;
    loop {
        let tx = db.transaction().expect("begin");
        let mut last = None;
        {
            let mut select = tx
                .prepare_cached(
                    "SELECT seq, payload FROM spill WHERE seq >= ?1 ORDER BY seq LIMIT 256",
                )
                .expect("prepare");
            let mut rows = select.query([from]).expect("select");
            while let Some(row) = rows.next().expect("row") {
                let seq: i64 = row.get(0).expect("seq");
                let payload: Vec<u8> = row.get(1).expect("payload");
                std::hint::black_box(payload);
                last = Some(seq);
            }
        }
        let Some(last) = last else { break };
        tx.execute("DELETE FROM spill WHERE seq <= ?1", [last])
            .expect("delete");
        tx.commit().expect("commit");
        from = last + 1;
    }
    let took = start.elapsed();
    drop(db);
    for name in ["spill.db", "spill.db-wal", "spill.db-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    took
}

/// source → a map that does some work → [the link under test] → sink. The
/// consumer is faster than the producer, so the link never fills.
async fn never_fills(records: u64, spill: Option<&Path>) -> (Duration, f64) {
    let start = Instant::now();
    let flow = Pipeline::builder()
        .links(LinkConfig {
            capacity: 1024,
            ..LinkConfig::default()
        })
        .source("numbers", iter_source(0..records))
        .map("work", |n: u64| {
            let mut x = n;
            for _ in 0..200 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).rotate_left(7);
            }
            Ok(x)
        });
    let flow = match spill {
        Some(dir) => flow.spill(SpillConfig::new(dir)).expect("open the spill"),
        None => flow,
    };
    let report = flow
        .sink(
            "count",
            sink_fn(|n: &u64| {
                std::hint::black_box(n);
                Ok(())
            }),
        )
        .run()
        .await;
    assert_eq!(report.accounting.delivered, records, "records lost");
    let spilled = report
        .snapshot
        .stages
        .iter()
        .flat_map(|s| &s.gauges)
        .find(|(name, _)| &**name == "spill_spilled_total")
        .map_or(0.0, |(_, v)| *v);
    (start.elapsed(), spilled)
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let runtime: Runtime = crate::queue::runtime();
    let records = opts.items(RECORDS);
    let dir = std::env::temp_dir().join(format!("weir-bench-spill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (mut link, mut floors) = (Vec::new(), Vec::new());
    #[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
    let mut lite: Vec<f64> = Vec::new();
    for rep in 0..opts.reps {
        let spill_dir = dir.join(format!("link-{rep}"));
        link.push(
            runtime
                .block_on(spill_link(records, &spill_dir))
                .as_secs_f64(),
        );
        let _ = std::fs::remove_dir_all(&spill_dir);
        floors.push(floor(records, &dir).as_secs_f64());
        #[cfg(feature = "sqlite")]
        lite.push(sqlite(records, &dir).as_secs_f64());
    }
    let rate = |secs: &[f64]| records as f64 / report::median(secs);
    let (link_rate, floor_rate) = (rate(&link), rate(&floors));
    let mb = |r: f64| format!("{:.0} MB/s", r * RECORD_BYTES as f64 / 1e6);
    let mut table = Table::new(
        format!(
            "spill: write then replay {} records of {RECORD_BYTES} bytes, fsync every 100 ms (median of {})",
            report::count(records),
            opts.reps
        ),
        &["storage", "records/s", "bytes/s", "spread", "/ floor"],
    );
    let mut rows = vec![
        ("weir spill link (pipeline, sync batch)", link_rate, &link),
        ("floor: buffered appends + read back", floor_rate, &floors),
    ];
    if !lite.is_empty() {
        rows.push(("SQLite WAL (direct, no pipeline)", rate(&lite), &lite));
    }
    for (name, r, secs) in rows {
        table.row(vec![
            name.into(),
            report::rate(r),
            mb(r),
            format!("{:.0}%", report::spread_pct(secs)),
            format!("{:.2}x", r / floor_rate),
        ]);
    }
    if lite.is_empty() {
        table.note("SQLite WAL: not built (`--features sqlite`)");
    }
    table.print();

    let n = opts.items(NEVER_FILLS);
    let (mut blocks, mut spills, mut spilled) = (Vec::new(), Vec::new(), 0.0);
    for rep in 0..opts.reps {
        blocks.push(runtime.block_on(never_fills(n, None)).0.as_secs_f64());
        let spill_dir = dir.join(format!("never-{rep}"));
        let (took, count) = runtime.block_on(never_fills(n, Some(&spill_dir)));
        let _ = std::fs::remove_dir_all(&spill_dir);
        spills.push(took.as_secs_f64());
        spilled += count;
    }
    let rate_n = |secs: &[f64]| n as f64 / report::median(secs);
    let (block_rate, spill_rate) = (rate_n(&blocks), rate_n(&spills));
    let mut table = Table::new(
        format!(
            "spill: a link that never fills, {} records (median of {})",
            report::count(n),
            opts.reps
        ),
        &["link", "records/s", "spread", "/ block"],
    );
    table.row(vec![
        "when_full = block".into(),
        report::rate(block_rate),
        format!("{:.0}%", report::spread_pct(&blocks)),
        "1.00x".into(),
    ]);
    table.row(vec![
        "when_full = spill".into(),
        report::rate(spill_rate),
        format!("{:.0}%", report::spread_pct(&spills)),
        format!("{:.2}x", spill_rate / block_rate),
    ]);
    table.note(format!(
        "records that went to disk anyway, over all reps: {spilled:.0}"
    ));
    table.print();
    let _ = std::fs::remove_dir_all(&dir);
    vec![
        Target::ratio(
            "spill",
            "write + replay / buffered appends",
            link_rate / floor_rate,
            0.5,
        ),
        Target::ratio(
            "spill",
            "never-full spill link / block",
            spill_rate / block_rate,
            0.95,
        ),
    ]
}
