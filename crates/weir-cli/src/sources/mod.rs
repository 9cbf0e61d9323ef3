//! Sources of the `weir` command, one file each. Every source reads
//! incrementally: the engine asks for the next record only when the first
//! link has room, and a source reads nothing more until asked. Every `next`
//! is cancel-safe (a drain cancels it).

pub mod file;
pub mod format;
pub mod generate;
pub mod http;
mod http_tally;
pub mod line_codec;
pub mod line_reader;
pub mod stdin;
pub mod tcp;

use std::net::SocketAddr;
use std::num::NonZeroUsize;

use weir::io::{Source, SourceItem};

use crate::config::{ConfigError, Section, SourceFile, TablePart};
use crate::record::Payload;

pub use http_tally::OutcomeCounts;

fn default_max_line_length() -> NonZeroUsize {
    NonZeroUsize::new(format::DEFAULT_MAX_LINE_LENGTH).unwrap_or(NonZeroUsize::MIN)
}

/// The `[source]` table, by its `type`.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// `type = "stdin"`.
    Stdin(stdin::StdinSourceConfig),
    /// `type = "file"`.
    File(file::FileSourceConfig),
    /// `type = "tcp"`.
    Tcp(tcp::TcpSourceConfig),
    /// `type = "http"`.
    Http(http::HttpSourceConfig),
    /// `type = "generate"`.
    Generate(generate::GenerateSourceConfig),
}

const SOURCE_TYPES: &[&str] = &["stdin", "file", "tcp", "http", "generate"];

impl SourceConfig {
    /// Reads the `[source]` table.
    pub fn from_part(file: &SourceFile, mut part: TablePart) -> Result<Section<Self>, ConfigError> {
        let (kind, span) = part.take_type(file, "source")?;
        let config = match kind.as_str() {
            "stdin" => SourceConfig::Stdin(part.into_config(file)?),
            "file" => SourceConfig::File(part.into_config(file)?),
            "tcp" => SourceConfig::Tcp(part.into_config(file)?),
            "http" => SourceConfig::Http(part.into_config(file)?),
            "generate" => SourceConfig::Generate(part.into_config(file)?),
            other => return Err(file.unknown_type("source", other, span, SOURCE_TYPES)),
        };
        Ok(Section { config, span })
    }

    /// The type's name, to name the source in the pipeline.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Stdin(_) => "stdin",
            SourceConfig::File(_) => "file",
            SourceConfig::Tcp(_) => "tcp",
            SourceConfig::Http(_) => "http",
            SourceConfig::Generate(_) => "generate",
        }
    }

    /// Opens the source (binding its listener, finding its files).
    pub async fn build(&self) -> Result<AnySource, String> {
        Ok(match self {
            SourceConfig::Stdin(config) => AnySource::Stdin(stdin::StdinSource::new(config)),
            SourceConfig::File(config) => AnySource::File(file::FileSource::new(config)?),
            SourceConfig::Tcp(config) => AnySource::Tcp(tcp::TcpSource::bind(config).await?),
            SourceConfig::Http(config) => AnySource::Http(http::HttpSource::bind(config).await?),
            SourceConfig::Generate(config) => {
                AnySource::Generate(generate::GenerateSource::new(config))
            }
        })
    }
}

/// Any source of the command.
pub enum AnySource {
    /// Standard input.
    Stdin(stdin::StdinSource),
    /// Files.
    File(file::FileSource),
    /// A TCP listener.
    Tcp(tcp::TcpSource),
    /// An HTTP server.
    Http(http::HttpSource),
    /// Synthetic records.
    Generate(generate::GenerateSource),
}

impl AnySource {
    /// The address a listening source is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            AnySource::Tcp(source) => Some(source.local_addr()),
            AnySource::Http(source) => Some(source.local_addr()),
            AnySource::Stdin(_) | AnySource::File(_) | AnySource::Generate(_) => None,
        }
    }
}

impl Source<Payload> for AnySource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        match self {
            AnySource::Stdin(source) => source.next().await,
            AnySource::File(source) => source.next().await,
            AnySource::Tcp(source) => source.next().await,
            AnySource::Http(source) => source.next().await,
            AnySource::Generate(source) => source.next().await,
        }
    }
}
