//! `type = "generate"`: synthetic JSON records, for trying pipelines out and
//! for load tests: a template object with an `id` field set to 0, 1, 2, ...

use serde::Deserialize;
use weir::io::{Emitted, Source, SourceItem};
use weir_core::limit::RateLimit;

use crate::config::HumanRate;
use crate::connector::{OpenedSource, SourceConnector, SourceContext};
use crate::record::{payload, Payload};

/// The `[source]` table of `type = "generate"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateSourceConfig {
    /// How many records (default: no end; stop the run with Ctrl-C).
    count: Option<u64>,
    /// At most this fast (default: as fast as the pipeline takes them).
    rate: Option<HumanRate>,
    /// The fields of every record besides `id` (a table).
    #[serde(default)]
    template: serde_json::Map<String, serde_json::Value>,
}

/// Makes the records.
#[derive(Debug)]
pub(crate) struct GenerateSource {
    next_id: u64,
    count: Option<u64>,
    rate: Option<RateLimit>,
    template: serde_json::Map<String, serde_json::Value>,
}

impl SourceConnector for GenerateSourceConfig {
    const TYPE: &'static str = "generate";
    type Source = GenerateSource;
    type Error = std::convert::Infallible;

    async fn open(&self, _context: &SourceContext) -> Result<GenerateSource, Self::Error> {
        Ok(GenerateSource {
            next_id: 0,
            count: self.count,
            rate: self.rate.map(|rate| RateLimit::new(rate.0)),
            template: self.template.clone(),
        })
    }
}

impl OpenedSource for GenerateSource {}

impl Source<Payload> for GenerateSource {
    async fn next(&mut self) -> Option<SourceItem<Payload>> {
        if self.count.is_some_and(|count| self.next_id >= count) {
            return None;
        }
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
        let mut record = self.template.clone();
        record.insert("id".to_owned(), self.next_id.into());
        self.next_id += 1;
        Some(SourceItem::Record(Emitted::from(payload(record.into()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn makes_count_records_from_the_template() {
        let config: GenerateSourceConfig =
            serde_json::from_str(r#"{"count": 2, "template": {"kind": "demo"}}"#).unwrap();
        let mut source = config.open(&SourceContext::default()).await.unwrap();
        let mut ids = Vec::new();
        while let Some(SourceItem::Record(record)) = source.next().await {
            assert_eq!(record.payload["kind"], "demo");
            ids.push(record.payload["id"].as_u64().unwrap());
        }
        assert_eq!(ids, vec![0, 1]);
    }
}
