//! weir's own log: `tracing` events (a stage's final adaptive limit, a
//! failed accept, a pipeline error) written to stderr by
//! tracing-subscriber, above the live view's frame (see [`crate::stderr`]).
//!
//! Which events show: `--log-level` if given, else `RUST_LOG`, else
//! warnings and errors. Both take tracing-subscriber's filter directives
//! (`info`, `weir_cli=debug,warn`). `--log-format json` writes one JSON
//! object per line instead of text.

use std::io::IsTerminal;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

/// A filter that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid log level {given:?} ({from}): {source}")]
pub struct LogLevelError {
    given: String,
    from: &'static str,
    #[source]
    source: tracing_subscriber::filter::ParseError,
}

/// The filter when neither `--log-level` nor `RUST_LOG` says.
const DEFAULT_LEVEL: &str = "warn";

/// Installs the log for this process. `level` is `--log-level`.
pub fn init(level: Option<&str>, format: LogFormat) -> Result<(), LogLevelError> {
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let (given, from) = match (level, from_env) {
        (Some(level), _) => (level.to_string(), "--log-level"),
        (None, Some(env)) => (env, "RUST_LOG"),
        (None, None) => (DEFAULT_LEVEL.to_string(), "default"),
    };
    let filter = EnvFilter::builder()
        .parse(&given)
        .map_err(|source| LogLevelError {
            given,
            from,
            source,
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(AboveTheFrame);
    // A second install (tests running `main` twice) keeps the first.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    Ok(())
}

/// Hands each event's text, whole, to [`crate::stderr::write_above`].
struct AboveTheFrame;

impl<'a> MakeWriter<'a> for AboveTheFrame {
    type Writer = EventText;

    fn make_writer(&'a self) -> EventText {
        EventText(Vec::new())
    }
}

/// One event's text, written out when dropped.
struct EventText(Vec<u8>);

impl std::io::Write for EventText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventText {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            crate::stderr::write_above(&self.0);
        }
    }
}
