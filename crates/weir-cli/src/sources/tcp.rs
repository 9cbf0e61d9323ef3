//! `type = "tcp"`: a listener taking newline-delimited records from any
//! number of connections. Each connection is read only when the pipeline
//! has room for its next record, so a full pipeline stops the reads and the
//! senders' writes block: backpressure over TCP.

use std::net::SocketAddr;
use std::num::NonZeroUsize;

use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use weir::io::{Source, SourceItem};

use super::format::Format;
use super::line_reader::LineReader;
use super::listen::{listen, ListenError};
use crate::connector::{OpenedSource, SourceConnector, SourceContext};
use crate::record::Payload;

/// The `[source]` table of `type = "tcp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpSourceConfig {
    /// The address to listen on (default `127.0.0.1:7070`; port 0 picks one).
    #[serde(default = "default_listen")]
    listen: String,
    /// `lines` (default) or `json`.
    #[serde(default)]
    format: Format,
    /// Longer lines are dead-lettered (default 1 MiB).
    #[serde(default = "super::default_max_line_length")]
    max_line_length: NonZeroUsize,
    /// Stop listening after this many connections, and end once they close
    /// (default: listen until the run is stopped).
    max_connections: Option<NonZeroUsize>,
    /// Same as `max_connections = 1`.
    #[serde(default)]
    once: bool,
}

fn default_listen() -> String {
    "127.0.0.1:7070".to_owned()
}

/// Listens for connections and reads their lines.
#[derive(Debug)]
pub(crate) struct TcpSource {
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    accepts_left: Option<usize>,
    /// Kept while listening, so the channel stays open between connections.
    sender: Option<mpsc::Sender<SourceItem<Payload>>>,
    items: mpsc::Receiver<SourceItem<Payload>>,
    readers: JoinSet<()>,
    format: Format,
    max_line_length: usize,
}

impl SourceConnector for TcpSourceConfig {
    const TYPE: &'static str = "tcp";
    type Source = TcpSource;
    type Error = ListenError;

    /// Binds the listener.
    async fn open(&self, _context: &SourceContext) -> Result<TcpSource, ListenError> {
        let config = self;
        let (listener, local_addr) = listen(&config.listen).await?;
        // One slot: a connection reads its next line only once the previous
        // one was taken by the pipeline.
        let (sender, items) = mpsc::channel(1);
        let accepts_left = if config.once {
            Some(1)
        } else {
            config.max_connections.map(NonZeroUsize::get)
        };
        Ok(TcpSource {
            listener: Some(listener),
            local_addr,
            accepts_left,
            sender: Some(sender),
            items,
            readers: JoinSet::new(),
            format: config.format,
            max_line_length: config.max_line_length.get(),
        })
    }
}

impl TcpSource {
    fn start_reader(&mut self, stream: TcpStream) {
        let Some(sender) = self.sender.clone() else {
            return;
        };
        let mut reader = LineReader::new(stream, self.format, self.max_line_length);
        self.readers.spawn(async move {
            // Reserve the slot before reading: nothing is read that the
            // pipeline has no room for.
            while let Ok(slot) = sender.reserve().await {
                match reader.next_item().await {
                    Some(item) => slot.send(item),
                    None => return,
                }
            }
        });
        if let Some(left) = &mut self.accepts_left {
            *left -= 1;
            if *left == 0 {
                self.listener = None;
                self.sender = None;
            }
        }
    }
}

impl OpenedSource for TcpSource {
    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.local_addr)
    }
}

impl Source<Payload> for TcpSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        loop {
            while self.readers.try_join_next().is_some() {}
            let accepted = match &self.listener {
                None => return self.items.recv().await,
                Some(listener) => tokio::select! {
                    item = self.items.recv() => return item,
                    accepted = listener.accept() => accepted,
                },
            };
            match accepted {
                Ok((stream, _peer)) => self.start_reader(stream),
                Err(error) => tracing::warn!(%error, "tcp source: accept failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn config(text: &str) -> TcpSourceConfig {
        let value: toml_edit::Value = format!("{{ {text} }}").parse().unwrap();
        TcpSourceConfig::deserialize(serde::de::IntoDeserializer::into_deserializer(value)).unwrap()
    }

    #[tokio::test]
    async fn reads_several_connections_and_ends_after_the_last() {
        let config = config(r#"listen = "127.0.0.1:0", max_connections = 2"#);
        let mut source = config.open(&SourceContext::default()).await.unwrap();
        let addr = source.local_addr;
        let senders = tokio::spawn(async move {
            for text in ["a\nb\n", "c\n"] {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(text.as_bytes()).await.unwrap();
            }
        });
        let mut lines = Vec::new();
        while let Some(SourceItem::Record(record)) = source.next().await {
            lines.push(record.payload.as_str().unwrap().to_owned());
        }
        senders.await.unwrap();
        lines.sort();
        assert_eq!(lines, ["a", "b", "c"]);
    }
}
