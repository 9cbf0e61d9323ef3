//! The shared printer: plain-text tables, number formatting, medians, and
//! target checks. Every suite prints through this, so their output looks
//! alike and the targets can be summed up at the end of `all`.

use std::fmt::Write as _;

/// A plain-text table with right-aligned columns (the first left-aligned),
/// and footnotes printed under it.
pub struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Table {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per header.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.headers.len(), "row width != header width");
        self.rows.push(cells);
    }

    /// Adds a footnote printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The table as text, ending with a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::from("|");
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = w - cell.chars().count();
                if i == 0 {
                    let _ = write!(out, " {cell}{} |", " ".repeat(pad));
                } else {
                    let _ = write!(out, " {}{cell} |", " ".repeat(pad));
                }
            }
            out.push('\n');
            out
        };
        let mut out = format!("\n### {}\n\n", self.title);
        out += &line(&self.headers);
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            // Markdown alignment row: the table pastes into BENCHMARKS.md as is.
            let dashes = "-".repeat(*w);
            if i == 0 {
                let _ = write!(out, " {dashes} |");
            } else {
                let _ = write!(out, "{dashes}-:|");
            }
        }
        out.push('\n');
        for row in &self.rows {
            out += &line(row);
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "{note}");
            }
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// The median of some samples (the mean of the middle two for an even count).
///
/// # Panics
/// If `samples` is empty.
pub fn median(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "median of no samples");
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Spread of samples around their median, as `max/min - 1` in percent: a
/// quick noise indicator to print beside a median.
pub fn spread_pct(samples: &[f64]) -> f64 {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min > 0.0 {
        (max / min - 1.0) * 100.0
    } else {
        0.0
    }
}

/// A rate in items per second, e.g. `12.34 M/s`.
pub fn rate(items_per_sec: f64) -> String {
    if items_per_sec >= 1e6 {
        format!("{:.2} M/s", items_per_sec / 1e6)
    } else {
        format!("{:.1} k/s", items_per_sec / 1e3)
    }
}

/// An item count, e.g. `200k`, `1M`, `10M` (exact digits when not round).
pub fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// A ratio, e.g. `1.23x`.
pub fn ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.2}x")
    }
}

/// A size in bytes, e.g. `3.4 MiB`.
pub fn bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    #[allow(clippy::cast_precision_loss)]
    let mib = n as f64 / MIB;
    format!("{mib:.1} MiB")
}

/// One target a suite checks: a measured value against a threshold it must
/// reach (`measured >= threshold`), or stay under with [`Target::at_most`].
#[derive(Debug, Clone)]
pub struct Target {
    pub suite: &'static str,
    pub name: String,
    pub measured: f64,
    pub threshold: f64,
    /// How to show the measured value and threshold.
    pub unit: Unit,
    /// `measured <= threshold` is the goal instead of `>=`.
    pub at_most: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// A ratio, shown as `1.23x`.
    Ratio,
    /// A plain number with a unit suffix, e.g. `MiB`.
    Plain(&'static str),
}

impl Target {
    /// A target of `measured >= threshold`, both shown as ratios.
    pub fn ratio(
        suite: &'static str,
        name: impl Into<String>,
        measured: f64,
        threshold: f64,
    ) -> Self {
        Target {
            suite,
            name: name.into(),
            measured,
            threshold,
            unit: Unit::Ratio,
            at_most: false,
        }
    }

    /// The same target with `measured <= threshold` as the goal.
    pub fn or_less(self) -> Self {
        Target {
            at_most: true,
            ..self
        }
    }

    /// The same target shown in `unit`.
    pub fn in_unit(self, unit: Unit) -> Self {
        Target { unit, ..self }
    }

    pub fn met(&self) -> bool {
        if self.at_most {
            self.measured <= self.threshold
        } else {
            self.measured >= self.threshold
        }
    }

    fn show(&self, v: f64) -> String {
        match self.unit {
            Unit::Ratio => ratio(v),
            Unit::Plain(suffix) => format!("{v:.1} {suffix}"),
        }
    }

    /// E.g. `MET    queue: SPSC cap 1024 weir/tokio: 1.20x (target >= 1.00x)`,
    /// or `MISSED ... 0.80x (target >= 1.00x, short by 20%)`.
    pub fn line(&self) -> String {
        let status = if self.met() { "MET   " } else { "MISSED" };
        let mut text = format!(
            "{status} {}: {}: {} (target {} {}",
            self.suite,
            self.name,
            self.show(self.measured),
            if self.at_most { "<=" } else { ">=" },
            self.show(self.threshold)
        );
        if !self.met() && self.threshold > 0.0 {
            if self.at_most {
                let over = (self.measured / self.threshold - 1.0) * 100.0;
                let _ = write!(text, ", over by {over:.0}%");
            } else {
                let short = (1.0 - self.measured / self.threshold) * 100.0;
                let _ = write!(text, ", short by {short:.0}%");
            }
        }
        text.push(')');
        text
    }
}

/// Prints targets under a heading.
pub fn print_targets(heading: &str, targets: &[Target]) {
    if targets.is_empty() {
        return;
    }
    println!("\n{heading}");
    for t in targets {
        println!("  {}", t.line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn table_aligns() {
        let mut t = Table::new("t", &["a", "bb"]);
        t.row(vec!["xyz".into(), "1".into()]);
        let text = t.render();
        assert!(text.contains("| a   | bb |"), "{text}");
        assert!(text.contains("| xyz |  1 |"), "{text}");
    }

    #[test]
    fn missed_target_says_by_how_much() {
        let t = Target {
            suite: "s",
            name: "n".into(),
            measured: 0.8,
            threshold: 1.0,
            unit: Unit::Ratio,
            at_most: false,
        };
        assert!(!t.met());
        assert!(t.line().contains("short by 20%"), "{}", t.line());
    }
}
