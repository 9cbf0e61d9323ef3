//! The run report: a [`Recorder`] samples the pipeline while it runs, and
//! at the end [`write`] saves the samples and the run's summary as one
//! self-contained HTML page (charts of every component's queue depth and
//! throughput over time, the summary table, the books, the bottleneck) or,
//! for a `.json` path, as JSON.

mod data;
#[cfg(test)]
pub(crate) mod fixtures;
mod html;
mod recorder;
mod svg;

use std::path::Path;

pub use data::{RunData, Sample, StageSeries};
pub use recorder::Recorder;

/// Writes `data` to `path`: JSON if the extension is `.json`, HTML
/// otherwise.
pub fn write(path: &Path, data: &RunData) -> std::io::Result<()> {
    let is_json = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    let contents = if is_json {
        serde_json::to_vec_pretty(data).map_err(std::io::Error::other)?
    } else {
        html::render_html(data).into_bytes()
    };
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures::run_data;
    use serde_json::Value;

    /// Equal JSON, numbers within rounding (serde_json parses floats to
    /// within an ulp or so, not exactly).
    fn same_json(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-12 * x.abs().max(1.0)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(key, x)| y.get(key).is_some_and(|y| same_json(x, y)))
            }
            _ => a == b,
        }
    }

    #[test]
    fn json_report_round_trips_and_holds_the_stages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.JSON");
        let data = run_data();
        write(&path, &data).unwrap();
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(same_json(&read, &serde_json::to_value(&data).unwrap()));
        let names: Vec<&str> = read["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|stage| stage["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ids", "enrich", "out"]);
        assert_eq!(read["stages"][1]["bottleneck"], true);
        assert_eq!(read["series"][1]["samples"][3]["queue_depth"], 64);
        assert_eq!(read["accounting"]["nacked"], 102);
        assert_eq!(read["bottleneck"], "enrich");
        assert_eq!(read["held_at_stop"][0]["queued"], 48);
    }

    #[test]
    fn other_extensions_get_html() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["run.html", "run"] {
            let path = dir.path().join(name);
            write(&path, &run_data()).unwrap();
            let html = std::fs::read_to_string(&path).unwrap();
            assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
        }
    }
}
