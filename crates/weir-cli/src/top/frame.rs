//! One frame of `weir top`, as lines of text: the books, the bottleneck
//! with its reason, a table of components, their readings, and each
//! worker's state. The same lines are printed (plain mode) or drawn by
//! ratatui (on a terminal).

use weir::metrics::{bottleneck, verdicts, PipelineSnapshot, VerdictState};

use crate::figures::format;
use crate::figures::rates::stage_rates;

/// Marks the bottleneck's row.
const BOTTLENECK_MARK: &str = ">";

/// A worker as last scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerState {
    /// Its `/metrics` URL.
    pub(crate) url: String,
    /// Why the last scrape failed (`None`: it answered).
    pub(crate) down: Option<String>,
}

/// The frame for the workers' summed pipeline `now`, with rates and
/// verdicts over the window since `earlier` (the same workers' sum one
/// refresh ago, `None` on the first).
pub(crate) fn render(
    earlier: Option<&PipelineSnapshot>,
    now: &PipelineSnapshot,
    workers: &[WorkerState],
) -> Vec<String> {
    let verdicts = earlier.map_or_else(Vec::new, |earlier| verdicts(earlier, now));
    let rates = stage_rates(earlier.unwrap_or(now), now);
    let limit = bottleneck(&verdicts);
    let up = workers.iter().filter(|w| w.down.is_none()).count();
    let books = now.accounting;
    let mut lines = vec![
        format!(
            "weir top: {up} of {} worker{} answering; in {}, delivered {}, dead {}, dropped {}",
            workers.len(),
            if workers.len() == 1 { "" } else { "s" },
            books.received,
            books.delivered,
            books.dead_lettered,
            books.dropped,
        ),
        match (limit, earlier) {
            (_, None) => "bottleneck: (measuring)".to_string(),
            (None, Some(_)) => format!(
                "bottleneck: none (no component busy {} of its time or more)",
                format::share(weir::metrics::BUSY_THRESHOLD)
            ),
            (Some(verdict), Some(_)) => {
                let index = now.stages.iter().position(|s| verdict.is_of(s));
                let stage = index.map(|i| &now.stages[i]);
                let mut reason = format!(
                    "bottleneck: {} (busy {} of its {} worker{}' time",
                    verdict.display_name(&verdicts),
                    format::share(verdict.busy),
                    stage.map_or(0, |s| s.workers),
                    if stage.is_some_and(|s| s.workers == 1) {
                        ""
                    } else {
                        "s"
                    },
                );
                if let (Some(i), Some(stage)) = (index, stage) {
                    if stage.input.is_some() {
                        reason.push_str(&format!(
                            "; its producers blocked {} of theirs putting into it",
                            format::share(rates[i].upstream_blocked)
                        ));
                    }
                }
                reason.push(')');
                reason
            }
        },
        String::new(),
    ];
    let mut rows = vec![[
        "",
        "component",
        "role",
        "workers",
        "in/s",
        "out/s",
        "queue",
        "starved",
        "busy",
        "blocked",
        "errors",
        "dead",
        "dropped",
    ]
    .map(String::from)
    .to_vec()];
    for (stage, rates) in now.stages.iter().zip(&rates) {
        let verdict = verdicts.iter().find(|v| v.is_of(stage));
        let share = |state| verdict.map_or("-".to_string(), |v| format::share(v.share(state)));
        let is_limit = limit.is_some_and(|l| l.is_of(stage));
        rows.push(vec![
            if is_limit { BOTTLENECK_MARK } else { "" }.to_string(),
            stage.name.to_string(),
            format::role(stage.role).to_string(),
            stage.workers.to_string(),
            format::rate(rates.records_in_per_second),
            format::rate(rates.records_per_second),
            match stage.input {
                None => "-".to_string(),
                Some(queue) => match queue.capacity {
                    Some(capacity) => format!("{}/{capacity}", queue.len),
                    None => format!("{}/∞", queue.len),
                },
            },
            share(VerdictState::Starved),
            share(VerdictState::Busy),
            share(VerdictState::Blocked),
            stage.errors.to_string(),
            stage.dead_letters.to_string(),
            stage.dropped().to_string(),
        ]);
    }
    lines.extend(aligned(&rows));
    let readings: Vec<String> = now.stages.iter().filter_map(format::readings).collect();
    if !readings.is_empty() {
        lines.push(String::new());
        lines.extend(readings);
    }
    lines.push(String::new());
    for worker in workers {
        lines.push(match &worker.down {
            None => format!("  up    {}", worker.url),
            Some(why) => format!("  DOWN  {}: {why}", worker.url),
        });
    }
    lines
}

/// The rows with their columns padded to line up: words (the first three
/// columns) to the left, numbers to the right.
fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &width))| {
                    if c < 3 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;

    fn workers() -> Vec<WorkerState> {
        vec![
            WorkerState {
                url: "http://127.0.0.1:1/metrics".into(),
                down: None,
            },
            WorkerState {
                url: "http://127.0.0.1:2/metrics".into(),
                down: Some("connection refused".into()),
            },
        ]
    }

    #[test]
    fn the_frame_names_the_bottleneck_with_its_reason_and_marks_a_dead_worker() {
        let (earlier, later) = two_snapshots();
        let lines = render(Some(&earlier), &later, &workers());
        let text = lines.join("\n");
        assert!(
            text.starts_with("weir top: 1 of 2 workers answering; in 2100"),
            "{text}"
        );
        assert!(
            text.contains(
                "bottleneck: enrich (busy 100% of its 4 workers' time; \
                 its producers blocked 90% of theirs putting into it)"
            ),
            "{text}"
        );
        let marked: Vec<&String> = lines.iter().filter(|l| l.starts_with('>')).collect();
        assert_eq!(marked.len(), 1, "{text}");
        assert!(
            marked[0].contains("enrich") && marked[0].contains("48/64"),
            "{text}"
        );
        assert!(
            text.contains("  DOWN  http://127.0.0.1:2/metrics: connection refused"),
            "{text}"
        );
        assert!(
            text.contains("  up    http://127.0.0.1:1/metrics"),
            "{text}"
        );
    }

    #[test]
    fn the_first_frame_is_still_measuring() {
        let (_, later) = two_snapshots();
        let text = render(None, &later, &workers()).join("\n");
        assert!(text.contains("bottleneck: (measuring)"), "{text}");
    }
}
