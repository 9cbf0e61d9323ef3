//! A reader of the Prometheus text format (version 0.0.4): each sample's
//! name, labels and value; comments (`# HELP`, `# TYPE`) and timestamps are
//! skipped.
//!
//! Hand-written, in about sixty lines: prometheus-client only writes the
//! format, and the common reader (`prometheus-parse`, a small crate lifted
//! from `prometheus-scrape`) brings regex and chrono for what `weir top`
//! needs of it: names, labels and values of weir's own exposition.
//!
//! ```text
//! weir_records_in_total{stage="enrich",role="stage"} 2050
//! ```

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A line that is not a sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}: {text:?}")]
pub(crate) struct FormatError {
    line: usize,
    what: &'static str,
    text: String,
}

/// Every sample of `text`, in order.
pub(crate) fn parse(text: &str) -> Result<Vec<Sample>, FormatError> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |what| FormatError {
            line: index + 1,
            what,
            text: line.to_string(),
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| error("no value"))?;
        let (name, mut rest) = line.split_at(name_end);
        let mut labels = Vec::new();
        if let Some(after_brace) = rest.strip_prefix('{') {
            rest = read_labels(after_brace, &mut labels).ok_or_else(|| error("bad labels"))?;
        }
        let value = rest
            .split_whitespace()
            .next()
            .and_then(number)
            .ok_or_else(|| error("bad value"))?;
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(samples)
}

/// Reads `key="value",...}` into `labels`; returns what follows the `}`.
fn read_labels<'a>(mut text: &'a str, labels: &mut Vec<(String, String)>) -> Option<&'a str> {
    loop {
        text = text.trim_start_matches([' ', ',']);
        if let Some(rest) = text.strip_prefix('}') {
            return Some(rest);
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (at, '"') => break at,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_string(), value));
        text = &rest[end + 1..];
    }
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN`.
fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_and_values_and_skips_comments() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\n\
                    a_total{stage=\"en\\\"r,ich\",role=\"stage\"} 2050\n\
                    b 1.5 1700000000000\n\
                    c_bucket{le=\"+Inf\"} +Inf\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].name, "a_total");
        assert_eq!(samples[0].label("stage"), Some("en\"r,ich"));
        assert_eq!(samples[0].label("role"), Some("stage"));
        assert_eq!(samples[0].value, 2050.0);
        assert_eq!(samples[1].labels, vec![]);
        assert_eq!(samples[1].value, 1.5);
        assert_eq!(samples[2].label("le"), Some("+Inf"));
        assert_eq!(samples[2].value, f64::INFINITY);
    }

    #[test]
    fn a_broken_line_is_named_by_its_number() {
        let error = parse("ok 1\nbroken{stage=\"x\" 3\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: bad labels: \"broken{stage=\\\"x\\\" 3\""
        );
        let error = parse("ok 1\n\nnovalue\n").unwrap_err();
        assert!(error.to_string().starts_with("line 3: no value"), "{error}");
        assert!(parse("x{a=\"b\"} many").is_err());
    }
}
