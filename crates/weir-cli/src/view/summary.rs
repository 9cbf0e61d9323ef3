//! The end-of-run summary: the books, duration and throughput, a table of
//! every component, the bottleneck, what a stop left behind and the error.

use std::io::Write;

use weir::RunReport;

use super::style::Palette;
use super::table::{Align, Cell, Table};
use super::BOTTLENECK_MARK;
use crate::figures::format;
use crate::figures::stage_summary::COLUMNS;
use crate::figures::StageSummary;

/// Writes the summary of `report` to `out`, as plain text.
pub fn print_summary(report: &RunReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", report.accounting)?;
    writeln!(
        out,
        "duration {}, throughput {}",
        format::duration(report.duration),
        format::rate(report.throughput())
    )?;
    let rows = StageSummary::from_report(report);
    for line in stage_table(&rows).render(Palette::plain()) {
        writeln!(out, "{line}")?;
    }
    match rows.iter().find(|row| row.bottleneck) {
        Some(row) => writeln!(
            out,
            "bottleneck: {} (busy {} of the run)",
            // With its role when another component has its name.
            report.bottleneck.as_deref().unwrap_or(&row.snapshot.name),
            format::share(row.busy)
        )?,
        None => writeln!(
            out,
            "bottleneck: none (no component busy {} of the run or more)",
            format::share(weir::metrics::BUSY_THRESHOLD)
        )?,
    }
    for readings in report.snapshot.stages.iter().filter_map(format::readings) {
        writeln!(out, "{readings}")?;
    }
    for held in &report.held_at_stop {
        writeln!(
            out,
            "stopped with {} queued and {} in work at {} (nacked)",
            held.queued, held.in_work, held.stage
        )?;
    }
    if let Some(error) = &report.error {
        writeln!(out, "error: {error}")?;
    }
    Ok(())
}

fn stage_table(rows: &[StageSummary]) -> Table {
    let headers = std::iter::once(("", Align::Left))
        .chain(
            COLUMNS.map(|(header, words)| (header, if words { Align::Left } else { Align::Right })),
        )
        .collect();
    let mut table = Table::new(headers);
    for row in rows {
        let mark = Cell::new(if row.bottleneck { BOTTLENECK_MARK } else { "" });
        table.row(
            std::iter::once(mark)
                .chain(row.cells().map(Cell::new))
                .collect(),
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::stopped_report;

    fn summary(report: &RunReport) -> String {
        let mut out = Vec::new();
        print_summary(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn summary_has_books_table_bottleneck_and_leftovers() {
        let text = summary(&stopped_report());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "in 2100 = delivered 1995 + filtered 0 + dead-lettered 3 + dropped 0 + nacked 102"
        );
        assert_eq!(lines[1], "duration 2.00s, throughput 998/s");
        assert!(
            lines[2].contains("component") && lines[2].contains("p99"),
            "{text}"
        );
        let enrich = lines.iter().find(|l| l.contains("enrich")).unwrap();
        assert!(enrich.starts_with(BOTTLENECK_MARK), "{text}");
        for cell in ["2050", "1998", "64/64", "900ms", "100%", "4.00ms", "12.0ms"] {
            assert!(enrich.contains(cell), "{cell} missing in {enrich}");
        }
        let ids = lines.iter().find(|l| l.contains("ids")).unwrap();
        assert_eq!(
            ids.matches(" - ").count(),
            2,
            "a source has no queue and no producers: {ids}"
        );
        assert!(
            text.contains("bottleneck: enrich (busy 100% of the run)"),
            "{text}"
        );
        assert!(text.contains("stopped with 48 queued and 4 in work at enrich (nacked)"));
        assert!(!text.contains("error:"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn summary_names_the_error_and_no_bottleneck() {
        let mut report = stopped_report();
        // Nothing busy: no verdict names a bottleneck.
        for verdict in &mut report.verdicts {
            verdict.starved += verdict.busy;
            verdict.busy = 0.0;
        }
        report.bottleneck = None;
        report.error = Some(weir::PipelineError::Internal("boom".into()));
        let text = summary(&report);
        assert!(text.contains("bottleneck: none"), "{text}");
        assert!(
            text.ends_with("error: engine task failed: boom\n"),
            "{text}"
        );
    }
}
