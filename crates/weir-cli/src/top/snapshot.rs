//! Scraped samples back into a [`PipelineSnapshot`], and the snapshots of
//! several workers summed into one, so the engine's own rates, verdicts
//! and bottleneck rule apply to what `weir top` reads.

use std::sync::Arc;
use std::time::Duration;

use weir::metrics::{PipelineSnapshot, Role, StageSnapshot};

use super::text_format::Sample;
use crate::figures::families::{BOOKS_FAMILIES, READINGS, READING_LABEL, STAGE_FAMILIES};
use crate::figures::format;

/// The pipeline that `samples` (one scrape of a weir's `/metrics`)
/// describe, taken at `elapsed` on the reader's clock. Components come in
/// the order they first appear; what the exposition does not carry
/// (latency quantiles, status) is left empty.
pub(crate) fn from_samples(samples: &[Sample], elapsed: Duration) -> PipelineSnapshot {
    let mut snapshot = PipelineSnapshot {
        elapsed,
        accounting: Default::default(),
        stages: Vec::new(),
    };
    for sample in samples {
        if let Some(books) = BOOKS_FAMILIES
            .iter()
            .find(|f| f.sample_name() == sample.name)
        {
            (books.write)(&mut snapshot.accounting, sample.value.max(0.0) as u64);
            continue;
        }
        let (Some(name), Some(role)) = (
            sample.label("stage"),
            sample.label("role").and_then(format::role_named),
        ) else {
            continue;
        };
        let stage = component(&mut snapshot.stages, name, role);
        if sample.name == READINGS {
            if let Some(reading) = sample.label(READING_LABEL) {
                stage.gauges.push((reading.into(), sample.value));
            }
        } else if let Some(family) = STAGE_FAMILIES
            .iter()
            .find(|f| f.sample_name() == sample.name)
        {
            (family.write)(stage, sample.value);
        }
    }
    snapshot
}

/// The component `name` in `role` (a source and a sink may share a name),
/// added empty if not seen yet.
fn component<'a>(
    stages: &'a mut Vec<StageSnapshot>,
    name: &str,
    role: Role,
) -> &'a mut StageSnapshot {
    match stages
        .iter()
        .position(|s| s.name.as_ref() == name && s.role == role)
    {
        Some(index) => &mut stages[index],
        None => {
            stages.push(empty(name.into(), role));
            stages.last_mut().expect("just pushed")
        }
    }
}

fn empty(name: Arc<str>, role: Role) -> StageSnapshot {
    StageSnapshot {
        name,
        role,
        workers: 0,
        records_in: 0,
        records_out: 0,
        errors: 0,
        retries: 0,
        timeouts: 0,
        dead_letters: 0,
        in_flight: 0,
        input: None,
        starved: Duration::ZERO,
        blocked: Duration::ZERO,
        latency: Default::default(),
        gauges: Vec::new(),
        status: None,
    }
}

/// Several workers' snapshots as one pipeline: per component (by name)
/// counters, workers, queues and time totals added, readings added by
/// name; the books added. `elapsed` is the reader's clock.
pub(crate) fn sum<'a>(
    parts: impl IntoIterator<Item = &'a PipelineSnapshot>,
    elapsed: Duration,
) -> PipelineSnapshot {
    let mut total = PipelineSnapshot {
        elapsed,
        accounting: Default::default(),
        stages: Vec::new(),
    };
    for part in parts {
        for family in BOOKS_FAMILIES {
            let value = (family.read)(&total.accounting) + (family.read)(&part.accounting);
            (family.write)(&mut total.accounting, value);
        }
        for stage in &part.stages {
            let into = component(&mut total.stages, &stage.name, stage.role);
            into.workers += stage.workers;
            into.records_in += stage.records_in;
            into.records_out += stage.records_out;
            into.errors += stage.errors;
            into.retries += stage.retries;
            into.timeouts += stage.timeouts;
            into.dead_letters += stage.dead_letters;
            into.in_flight += stage.in_flight;
            into.input = match (into.input, stage.input) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            into.starved += stage.starved;
            into.blocked += stage.blocked;
            for (name, value) in &stage.gauges {
                match into.gauges.iter_mut().find(|(n, _)| n == name) {
                    Some((_, total)) => *total += value,
                    None => into.gauges.push((name.clone(), *value)),
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;
    use crate::top::text_format::parse;

    /// What weir's endpoint writes for `snapshot`, read back.
    fn round_trip(snapshot: &PipelineSnapshot) -> PipelineSnapshot {
        let text = crate::metrics_http::render_for_tests(snapshot);
        from_samples(&parse(&text).unwrap(), snapshot.elapsed)
    }

    #[test]
    fn a_scrape_reads_back_the_snapshot_it_was_written_from() {
        let (_, mut later) = two_snapshots();
        later.stages[1].gauges = vec![("concurrency_limit".into(), 37.0)];
        let read = round_trip(&later);
        assert_eq!(read.accounting, later.accounting);
        assert_eq!(read.stages.len(), 3);
        for (read, written) in read.stages.iter().zip(&later.stages) {
            assert_eq!(read.name, written.name);
            assert_eq!(read.role, written.role);
            assert_eq!(read.gauges, written.gauges);
            for family in STAGE_FAMILIES {
                assert_eq!(
                    (family.read)(read),
                    (family.read)(written),
                    "{} of {}",
                    family.name,
                    written.name
                );
            }
        }
    }

    #[test]
    fn a_source_and_a_sink_of_one_name_read_back_as_two_components() {
        let (_, mut later) = two_snapshots();
        later.stages[2].name = later.stages[0].name.clone();
        let read = round_trip(&later);
        assert_eq!(read.stages.len(), 3);
        for (read, written) in read.stages.iter().zip(&later.stages) {
            assert_eq!((&read.name, read.role), (&written.name, written.role));
            assert_eq!(read.records_in, written.records_in);
        }
    }

    #[test]
    fn two_workers_sum_per_component() {
        let (_, one) = two_snapshots();
        let mut two = one.clone();
        two.stages[1].gauges = vec![("concurrency_limit".into(), 5.0)];
        let total = sum([&one, &two], Duration::from_secs(9));
        assert_eq!(total.elapsed, Duration::from_secs(9));
        assert_eq!(total.stages.len(), 3);
        let (a, t) = (&one.stages[1], &total.stages[1]);
        assert_eq!(t.records_in, 2 * a.records_in);
        assert_eq!(t.workers, 2 * a.workers);
        assert_eq!(t.starved, 2 * a.starved);
        assert_eq!(t.queue_len(), 2 * a.queue_len());
        assert_eq!(t.gauges, vec![("concurrency_limit".into(), 5.0)]);
        assert_eq!(total.accounting.received, 2 * one.accounting.received);
    }
}
