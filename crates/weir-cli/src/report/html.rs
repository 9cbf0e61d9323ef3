//! The run report as one self-contained HTML page: inline CSS and SVG, no
//! script, nothing fetched, readable offline.

use std::fmt::Write;

use super::data::{RunData, StageSeries};
use super::svg::{line_chart, line_color};
use crate::figures::format;
use crate::figures::stage_summary::COLUMNS;

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
code, td { font-family: ui-monospace, monospace; }
.books { background: #f4f4f4; padding: .5em .8em; border-radius: 4px; }
.bottleneck { color: #b00; font-weight: bold; }
.error { background: #fdecea; color: #900; padding: .5em .8em; border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: .25em .6em; border-bottom: 1px solid #ddd; }
th { text-align: right; } th.words, td.words { text-align: left; } td { text-align: right; }
tr.limit td { background: #fff3f0; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em; vertical-align: -1px; }
svg.chart { width: 100%; height: auto; }
svg .grid { stroke: #e4e4e4; } svg text { font-size: 11px; fill: #666; }
svg text.y { text-anchor: end; } svg text.x { text-anchor: middle; }
";

/// The page for `data`.
pub(crate) fn render_html(data: &RunData) -> String {
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>weir run report</title><style>{STYLE}</style></head><body>\n\
         <h1>weir run report</h1>\n"
    );
    let _ = write!(
        page,
        "<p class=\"books\"><code>{}</code></p>\n<p>{} records delivered in {}, {}. ",
        escape(&data.accounting_line),
        data.accounting.delivered,
        format::seconds(data.duration_seconds),
        format::rate(data.throughput),
    );
    match &data.bottleneck {
        Some(name) => {
            let _ = writeln!(
                page,
                "Bottleneck: <span class=\"bottleneck\">{}</span>.</p>",
                escape(name)
            );
        }
        None => page.push_str("No bottleneck.</p>\n"),
    }
    for held in &data.held_at_stop {
        let _ = writeln!(
            page,
            "<p>Stopped with {} queued and {} in work at {} (nacked).</p>",
            held.queued,
            held.in_work,
            escape(&held.stage)
        );
    }
    if let Some(error) = &data.error {
        let _ = writeln!(page, "<p class=\"error\">Error: {}</p>", escape(error));
    }
    page.push_str(&legend(data));
    let chart = |title: &str, value: fn(&super::data::Sample) -> f64| {
        let series: Vec<Vec<(f64, f64)>> = data
            .series
            .iter()
            .map(|stage| stage.samples.iter().map(|s| (s.t, value(s))).collect())
            .collect();
        format!(
            "<h2>{title}</h2>\n{}\n",
            line_chart(title, data.duration_seconds, &series)
        )
    };
    page.push_str(&chart("Queue depth (records)", |s| s.queue_depth as f64));
    page.push_str(&chart("Throughput (records/s)", |s| s.throughput));
    page.push_str(&concurrency_chart(data));
    page.push_str(&stage_table(data));
    page.push_str("</body></html>\n");
    page
}

/// The concurrency limit of each component that has one, with its
/// records in work, over time; nothing if none has a limit.
fn concurrency_chart(data: &RunData) -> String {
    let limited =
        |stage: &&StageSeries| stage.samples.iter().any(|s| s.concurrency_limit.is_some());
    if !data.series.iter().any(|stage| limited(&stage)) {
        return String::new();
    }
    // Every component keeps its colour; one without a limit draws nothing.
    let series: Vec<Vec<(f64, f64)>> = data
        .series
        .iter()
        .map(|stage| {
            stage
                .samples
                .iter()
                .filter_map(|s| s.concurrency_limit.map(|limit| (s.t, limit)))
                .collect()
        })
        .collect();
    let in_flight: Vec<Vec<(f64, f64)>> = data
        .series
        .iter()
        .map(|stage| match limited(&stage) {
            true => stage
                .samples
                .iter()
                .map(|s| (s.t, s.in_flight as f64))
                .collect(),
            false => Vec::new(),
        })
        .collect();
    let title = "Concurrency limit";
    let busy_title = "Records in work (limited components)";
    format!(
        "<h2>{title}</h2>\n{}\n<h2>{busy_title}</h2>\n{}\n",
        line_chart(title, data.duration_seconds, &series),
        line_chart(busy_title, data.duration_seconds, &in_flight)
    )
}

/// Which colour is which component, for every chart.
fn legend(data: &RunData) -> String {
    let items: String = data
        .series
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            format!(
                "<span><i style=\"background:{}\"></i>{}</span>",
                line_color(index),
                escape(&stage.name)
            )
        })
        .collect();
    format!("<p class=\"legend\">{items}</p>\n")
}

fn stage_table(data: &RunData) -> String {
    let class = |words: bool| if words { " class=\"words\"" } else { "" };
    let mut table = String::from("<h2>Components</h2>\n<table><thead><tr>");
    for (header, words) in COLUMNS {
        let _ = write!(table, "<th{}>{header}</th>", class(words));
    }
    table.push_str("</tr></thead><tbody>\n");
    for row in &data.stages {
        table.push_str(if row.bottleneck {
            "<tr class=\"limit\">"
        } else {
            "<tr>"
        });
        for (cell, (_, words)) in row.cells().iter().zip(COLUMNS) {
            let _ = write!(table, "<td{}>{}</td>", class(words), escape(cell));
        }
        table.push_str("</tr>\n");
    }
    table.push_str("</tbody></table>\n");
    table
}

/// `text` safe inside HTML elements and quoted attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::run_data;

    #[test]
    fn html_report_has_charts_table_books_and_every_stage() {
        let data = run_data();
        let html = render_html(&data);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            html.matches("<svg").count(),
            2,
            "queue depth and throughput"
        );
        assert_eq!(html.matches("<polyline").count(), 2 * data.series.len());
        for name in ["ids", "enrich", "out"] {
            assert!(
                html.contains(&format!("<td class=\"words\">{name}</td>")),
                "{name}"
            );
        }
        assert!(html.contains(&escape(&data.accounting_line)));
        assert!(html.contains("Bottleneck: <span class=\"bottleneck\">enrich</span>"));
        assert!(html.contains("<tr class=\"limit\"><td class=\"words\">enrich</td>"));
        assert!(html.contains("Stopped with 48 queued and 4 in work at enrich"));
    }

    #[test]
    fn a_component_with_a_concurrency_limit_gets_its_charts() {
        let mut data = run_data();
        for (step, sample) in data.series[1].samples.iter_mut().enumerate() {
            sample.concurrency_limit = Some(8.0 + step as f64);
        }
        let html = render_html(&data);
        assert_eq!(html.matches("<svg").count(), 4, "and limit and in-work");
        assert!(html.contains("<h2>Concurrency limit</h2>"));
        // One line each in the new charts: only `enrich` has a limit.
        assert_eq!(html.matches("<polyline").count(), 2 * data.series.len() + 2);
    }

    #[test]
    fn html_report_is_self_contained() {
        let html = render_html(&run_data());
        for external in ["http://", "https://", "<script", "<link", "src="] {
            assert!(!html.contains(external), "{external} in the report");
        }
    }

    #[test]
    fn html_report_escapes_names_and_errors() {
        let mut data = run_data();
        data.series[0].name = "<b>&".into();
        data.error = Some("bad \"quote\" <here>".into());
        let html = render_html(&data);
        assert!(html.contains("&lt;b&gt;&amp;") && !html.contains("<b>&"));
        assert!(html.contains("Error: bad &quot;quote&quot; &lt;here&gt;"));
    }
}
