//! One frame of the live view, as text: a status line, then one line per
//! component with its queue fill, rate, upstream blocked share, verdict and
//! errors, the bottleneck marked.

use weir::metrics::{bottleneck, PipelineSnapshot, Verdict, VerdictState};

use super::bar::{fill_bar, fill_color, BAR_WIDTH};
use super::style::{Color, Palette};
use super::table::{Align, Cell, Table};
use super::BOTTLENECK_MARK;
use crate::figures::format;
use crate::figures::rates::stage_rates;

/// Room for the widest value of each column the frame redraws often (rate
/// `999.9k/s`, verdict `starved 100%`), so columns stay put between frames.
const COLUMN_WIDTHS: [usize; 9] = [1, 0, 6, 0, 8, 10, 12, 6, 6];

/// The frame for `now`, with rates over the window since `earlier` and the
/// given verdicts (normally over [`weir::VERDICT_WINDOW`]). Every line ends
/// with a newline.
pub(crate) fn render_live(
    earlier: &PipelineSnapshot,
    now: &PipelineSnapshot,
    verdicts: &[Verdict],
    palette: Palette,
) -> String {
    let limit = bottleneck(verdicts);
    let books = now.accounting;
    let mut frame = format!(
        "{}  {}  in {}  delivered {}  dead {}  bottleneck: {}\n",
        palette.paint("weir", Some(Color::Bold)),
        format::duration(now.elapsed),
        books.received,
        books.delivered,
        books.dead_lettered,
        limit.map_or_else(
            || "none".to_string(),
            |limit| palette.paint(&limit.display_name(verdicts), Some(Color::Red))
        ),
    );
    let mut table = Table::new(vec![
        ("", Align::Left),
        ("component", Align::Left),
        ("role", Align::Left),
        ("queue", Align::Left),
        ("rate", Align::Right),
        ("up-blocked", Align::Right),
        ("verdict", Align::Left),
        ("errors", Align::Right),
        ("dead", Align::Right),
    ])
    .min_widths(&COLUMN_WIDTHS);
    for (stage, rates) in now.stages.iter().zip(stage_rates(earlier, now)) {
        let is_limit = limit.is_some_and(|limit| limit.is_of(stage));
        let verdict = verdicts.iter().find(|v| v.is_of(stage));
        table.row(vec![
            Cell::colored(
                if is_limit { BOTTLENECK_MARK } else { "" },
                is_limit.then_some(Color::Red),
            ),
            Cell::colored(stage.name.as_ref(), is_limit.then_some(Color::Bold)),
            Cell::new(format::role(stage.role)),
            queue_cell(stage.input),
            Cell::new(format::rate(rates.records_per_second)),
            match stage.input {
                Some(_) => Cell::new(format::share(rates.upstream_blocked)),
                None => Cell::new("-"),
            },
            verdict_cell(verdict),
            Cell::colored(
                stage.errors.to_string(),
                (stage.errors > 0).then_some(Color::Yellow),
            ),
            Cell::colored(
                stage.dead_letters.to_string(),
                (stage.dead_letters > 0).then_some(Color::Red),
            ),
        ]);
    }
    for line in table.render(palette) {
        frame.push_str(&line);
        frame.push('\n');
    }
    for readings in now.stages.iter().filter_map(format::readings) {
        frame.push_str("  ");
        frame.push_str(&readings);
        frame.push('\n');
    }
    frame
}

fn queue_cell(input: Option<weir_core::QueueStats>) -> Cell {
    match input {
        None => Cell::new("-"),
        Some(queue) => match queue.capacity {
            Some(capacity) => Cell::colored(
                format!(
                    "{} {}/{capacity}",
                    fill_bar(queue.len, capacity, BAR_WIDTH),
                    queue.len
                ),
                Some(fill_color(queue.len, capacity)),
            ),
            None => Cell::new(format!("unbounded {}", queue.len)),
        },
    }
}

fn verdict_cell(verdict: Option<&Verdict>) -> Cell {
    let Some(verdict) = verdict else {
        return Cell::new("-");
    };
    let state = verdict.state();
    let color = match state {
        VerdictState::Busy => Color::Yellow,
        VerdictState::Blocked => Color::Cyan,
        VerdictState::Starved => Color::Dim,
    };
    Cell::colored(
        format!("{state} {}", format::share(verdict.share(state))),
        Some(color),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::fixtures::two_snapshots;
    use weir::metrics::verdicts;

    fn frame(palette: Palette) -> String {
        let (earlier, later) = two_snapshots();
        render_live(&earlier, &later, &verdicts(&earlier, &later), palette)
    }

    #[test]
    fn live_frame_marks_the_bottleneck_line_only() {
        let frame = frame(Palette::plain());
        let lines: Vec<&str> = frame.lines().collect();
        assert_eq!(lines.len(), 5, "{frame}");
        assert!(lines[0].ends_with("bottleneck: enrich"), "{frame}");
        let marked: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| line.starts_with(BOTTLENECK_MARK))
            .collect();
        assert_eq!(marked.len(), 1, "{frame}");
        assert!(marked[0].contains("enrich"), "{frame}");
    }

    /// The table line of the component `name` (the status line skipped).
    fn line_of<'a>(frame: &'a str, name: &str) -> &'a str {
        let cell = format!(" {name} ");
        frame.lines().skip(1).find(|l| l.contains(&cell)).unwrap()
    }

    #[test]
    fn live_frame_shows_queue_rate_blocked_share_and_verdict() {
        let frame = frame(Palette::plain());
        let enrich = line_of(&frame, "enrich");
        assert!(enrich.contains("[█████████░░░] 48/64"), "{enrich}");
        assert!(enrich.contains("1998/s"), "{enrich}");
        assert!(enrich.contains("90%"), "{enrich}");
        assert!(enrich.contains("busy 100%"), "{enrich}");
        let ids = line_of(&frame, "ids");
        assert!(ids.contains("blocked 90%"), "{ids}");
        let out = line_of(&frame, "out");
        assert!(out.contains("starved 95%"), "{out}");
        assert!(out.contains("[░░░░░░░░░░░░] 0/64"), "{out}");
    }

    #[test]
    fn no_color_frame_has_no_escape_codes() {
        assert!(!frame(Palette::plain()).contains('\x1b'));
        assert!(frame(Palette::colored()).contains("\x1b["));
    }
}
