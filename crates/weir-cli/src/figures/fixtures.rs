//! Hand-built snapshots and reports for the rendering tests: a source
//! `ids`, a slow stage `enrich` (the bottleneck, its input link nearly
//! full) and a sink `out`, one second apart; the run stopped there.

use std::time::Duration;

use weir::metrics::{verdicts, PipelineSnapshot, Role, StageSnapshot};
use weir::{AccountingSnapshot, HeldRecords, RunReport};
use weir_core::QueueStats;

fn stage(name: &str, role: Role, workers: usize) -> StageSnapshot {
    StageSnapshot {
        name: name.into(),
        role,
        workers,
        records_in: 0,
        records_out: 0,
        errors: 0,
        retries: 0,
        timeouts: 0,
        dead_letters: 0,
        in_flight: 0,
        input: (role != Role::Source).then(|| QueueStats {
            capacity: Some(64),
            ..QueueStats::default()
        }),
        starved: Duration::ZERO,
        blocked: Duration::ZERO,
        latency: Default::default(),
        gauges: Vec::new(),
        status: None,
    }
}

/// The run after 1 s, and after 2 s: in the second second the source was
/// blocked on `enrich`'s full input, `enrich` was busy and `out` starved.
pub(crate) fn two_snapshots() -> (PipelineSnapshot, PipelineSnapshot) {
    let earlier = PipelineSnapshot {
        elapsed: Duration::from_secs(1),
        accounting: AccountingSnapshot {
            received: 1100,
            delivered: 1000,
            ..Default::default()
        },
        stages: vec![
            stage("ids", Role::Source, 1),
            stage("enrich", Role::Stage, 4),
            stage("out", Role::Sink, 1),
        ],
    };
    let mut later = earlier.clone();
    later.elapsed = Duration::from_secs(2);
    later.accounting = AccountingSnapshot {
        received: 2100,
        delivered: 1995,
        dead_lettered: 3,
        ..Default::default()
    };
    let [ids, enrich, out] = &mut later.stages[..] else {
        unreachable!("three stages")
    };
    ids.records_out = 2100;
    ids.blocked = Duration::from_millis(900);
    enrich.records_in = 2050;
    enrich.records_out = 1998;
    enrich.errors = 5;
    enrich.dead_letters = 3;
    enrich.in_flight = 4;
    enrich.input = Some(QueueStats {
        len: 48,
        capacity: Some(64),
        high_water: 64,
        put_blocked: Duration::from_millis(900),
        ..QueueStats::default()
    });
    enrich.latency.p50 = Duration::from_millis(4);
    enrich.latency.p99 = Duration::from_millis(12);
    out.records_in = 1995;
    out.records_out = 1995;
    out.starved = Duration::from_millis(950);
    out.input = Some(QueueStats {
        capacity: Some(64),
        high_water: 3,
        get_waited: Duration::from_millis(950),
        ..QueueStats::default()
    });
    (earlier, later)
}

/// A report of the run stopped at 2 s, with records left behind.
pub(crate) fn stopped_report() -> RunReport {
    let (earlier, snapshot) = two_snapshots();
    let verdicts = verdicts(&earlier, &snapshot);
    RunReport {
        accounting: AccountingSnapshot {
            nacked: 102,
            ..snapshot.accounting
        },
        duration: snapshot.elapsed,
        bottleneck: weir::metrics::bottleneck(&verdicts).map(|v| v.display_name(&verdicts).into()),
        snapshot,
        verdicts,
        held_at_stop: vec![HeldRecords {
            stage: "enrich".into(),
            queued: 48,
            in_work: 4,
        }],
        error: None,
    }
}
