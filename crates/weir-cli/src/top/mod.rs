//! `weir top [URL...]`: the live view of one or more running weirs, read
//! from their `/metrics` endpoints every second.
//!
//! Per component: workers, in and out rates, queue depth and capacity,
//! starved/busy/blocked shares, errors, dead letters, drops, and its own
//! readings (adaptive limits and whatever else a component exposes); the
//! bottleneck named with its reason. Given several URLs (workers of one
//! pipeline, e.g. sharing a NATS consumer), it sums each component across
//! them before applying the engine's own verdict and bottleneck rule, and
//! marks a worker that stopped answering.
//!
//! On a terminal it draws with ratatui (`q` quits); otherwise, or with
//! `--plain`, it prints a frame of plain text per refresh (`--count`
//! frames, or until interrupted).

mod frame;
mod snapshot;
mod text_format;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use weir::metrics::PipelineSnapshot;

use frame::{render, WorkerState};

/// Where `weir top` looks when given no URL.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:9100/metrics";

/// How long a scrape may take before its worker counts as down.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `weir top` was asked (its flags).
pub(crate) struct Options {
    /// Each weir's metrics address (HOST:PORT or URL); none: [`DEFAULT_URL`].
    pub(crate) urls: Vec<String>,
    /// How often to refresh.
    pub(crate) interval: Duration,
    /// Plain text even on a terminal.
    pub(crate) plain: bool,
    /// Stop after this many frames (plain text only).
    pub(crate) count: Option<u64>,
}

/// Runs `weir top` until `q` (or, in plain text, `count` frames); the
/// error ends it (the terminal or stdout failed).
pub(crate) fn run(args: &Options, runtime: &tokio::runtime::Runtime) -> std::io::Result<()> {
    let urls: Vec<String> = if args.urls.is_empty() {
        vec![DEFAULT_URL.to_string()]
    } else {
        args.urls.iter().map(|url| metrics_url(url)).collect()
    };
    // Metrics are scraped directly, as Prometheus does, never through a proxy.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(SCRAPE_TIMEOUT.min(args.interval.max(Duration::from_millis(100))))
        .build()
        .map_err(std::io::Error::other)?;
    let mut watch = Watch::new(urls, client);
    if !args.plain && std::io::stdout().is_terminal() {
        tui::run(&mut watch, runtime, args.interval)
    } else {
        plain(&mut watch, runtime, args)
    }
}

/// Plain text: a frame per refresh on stdout, a blank line between.
fn plain(
    watch: &mut Watch,
    runtime: &tokio::runtime::Runtime,
    args: &Options,
) -> std::io::Result<()> {
    let mut stdout = std::io::stdout();
    let mut frames = 0;
    loop {
        let started = Instant::now();
        let lines = runtime.block_on(watch.refresh());
        writeln!(stdout, "{}\n", lines.join("\n"))?;
        stdout.flush()?;
        frames += 1;
        if args.count.is_some_and(|count| frames >= count) {
            return Ok(());
        }
        std::thread::sleep(args.interval.saturating_sub(started.elapsed()));
    }
}

/// `127.0.0.1:9100` → `http://127.0.0.1:9100/metrics`; a URL with a path
/// is kept as given.
fn metrics_url(given: &str) -> String {
    let url = if given.contains("://") {
        given.to_string()
    } else {
        format!("http://{given}")
    };
    let after_scheme = &url[url.find("://").map_or(0, |i| i + 3)..];
    match after_scheme.find('/') {
        Some(slash) if slash + 1 < after_scheme.len() => url,
        _ => format!("{}/metrics", url.trim_end_matches('/')),
    }
}

/// The workers watched, and what each said last.
struct Watch {
    client: reqwest::Client,
    started: Instant,
    workers: Vec<Worker>,
    /// The frame's `earlier`: the same workers' sum at the last refresh.
    previous: Option<PipelineSnapshot>,
}

struct Worker {
    state: WorkerState,
    /// Its pipeline at the last scrape that answered (`None` while down).
    last: Option<PipelineSnapshot>,
}

impl Watch {
    fn new(urls: Vec<String>, client: reqwest::Client) -> Self {
        Watch {
            client,
            started: Instant::now(),
            workers: urls
                .into_iter()
                .map(|url| Worker {
                    state: WorkerState { url, down: None },
                    last: None,
                })
                .collect(),
            previous: None,
        }
    }

    /// Scrapes every worker at once and returns the frame.
    async fn refresh(&mut self) -> Vec<String> {
        let scrapes = self
            .workers
            .iter()
            .map(|worker| scrape(&self.client, &worker.state.url));
        let results = futures::future::join_all(scrapes).await;
        let elapsed = self.started.elapsed();
        // Rates are over the workers that answered both times; one that
        // just came (back) counts from now on.
        let mut earlier_parts = Vec::new();
        let mut now_parts = Vec::new();
        for (worker, result) in self.workers.iter_mut().zip(results) {
            match result {
                Ok(samples) => {
                    let now = snapshot::from_samples(&samples, elapsed);
                    let mut earlier = worker.last.take().unwrap_or_else(|| now.clone());
                    earlier.elapsed = self.previous.as_ref().map_or(elapsed, |p| p.elapsed);
                    earlier_parts.push(earlier);
                    now_parts.push(now.clone());
                    worker.last = Some(now);
                    worker.state.down = None;
                }
                Err(error) => {
                    worker.last = None;
                    worker.state.down = Some(error);
                }
            }
        }
        let earlier_elapsed = self.previous.as_ref().map(|p| p.elapsed);
        let now = snapshot::sum(&now_parts, elapsed);
        let earlier = earlier_elapsed.map(|at| snapshot::sum(&earlier_parts, at));
        let states: Vec<WorkerState> = self.workers.iter().map(|w| w.state.clone()).collect();
        let lines = render(earlier.as_ref(), &now, &states);
        self.previous = Some(now);
        lines
    }
}

/// One worker's samples, or why it did not answer.
async fn scrape(client: &reqwest::Client, url: &str) -> Result<Vec<text_format::Sample>, String> {
    let response = client.get(url).send().await.map_err(|error| {
        if error.is_timeout() {
            "no answer in time".to_string()
        } else if error.is_connect() {
            "connection refused".to_string()
        } else {
            error.to_string()
        }
    })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let text = response.text().await.map_err(|error| error.to_string())?;
    text_format::parse(&text).map_err(|error| error.to_string())
}

/// The terminal view: the frame drawn by ratatui, redrawn every refresh.
mod tui {
    use std::time::{Duration, Instant};

    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use ratatui::style::{Modifier, Style};
    use ratatui::text::Line;
    use ratatui::widgets::Paragraph;

    use super::Watch;

    /// Draws until `q`, Esc or Ctrl-C.
    pub(super) fn run(
        watch: &mut Watch,
        runtime: &tokio::runtime::Runtime,
        interval: Duration,
    ) -> std::io::Result<()> {
        let mut terminal = ratatui::init();
        let result = (|| loop {
            let started = Instant::now();
            let lines = runtime.block_on(watch.refresh());
            terminal.draw(|frame| {
                let text: Vec<Line> = lines
                    .iter()
                    .map(|line| {
                        let style = if line.starts_with('>') || line.starts_with("bottleneck: ") {
                            Style::new().add_modifier(Modifier::BOLD)
                        } else if line.starts_with("  DOWN") {
                            Style::new().add_modifier(Modifier::REVERSED)
                        } else {
                            Style::new()
                        };
                        Line::styled(line.as_str(), style)
                    })
                    .chain([Line::styled(
                        "q quits",
                        Style::new().add_modifier(Modifier::DIM),
                    )])
                    .collect();
                frame.render_widget(Paragraph::new(text), frame.area());
            })?;
            while let Some(left) = interval.checked_sub(started.elapsed()) {
                if !event::poll(left)? {
                    break;
                }
                if let Event::Key(key) = event::read()? {
                    let ctrl_c = key.code == KeyCode::Char('c')
                        && key.modifiers.contains(KeyModifiers::CONTROL);
                    if key.kind == KeyEventKind::Press
                        && (matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c)
                    {
                        return Ok(());
                    }
                }
            }
        })();
        ratatui::restore();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::metrics_url;

    #[test]
    fn an_address_becomes_its_metrics_url() {
        assert_eq!(
            metrics_url("127.0.0.1:9100"),
            "http://127.0.0.1:9100/metrics"
        );
        assert_eq!(metrics_url("http://h:1/"), "http://h:1/metrics");
        assert_eq!(metrics_url("http://h:1/x/metrics"), "http://h:1/x/metrics");
    }
}
