//! How a line of input becomes a record: as text (`lines`) or parsed
//! (`json`); input that cannot become one is an invalid item with its
//! reason, bound for the dead letters.

use bytes::Bytes;
use serde::Deserialize;
use weir::io::{Emitted, SourceItem};

use super::line_codec::Frame;
use crate::record::{payload, Payload};

/// The default `max_line_length`: 1 MiB.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 1 << 20;

/// `format`: what one line of input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A line of UTF-8 text, the record a JSON string.
    #[default]
    Lines,
    /// A JSON value on one line (blank lines are skipped).
    Json,
}

impl Format {
    /// The item for one frame, or `None` for a line to skip.
    pub fn item(self, frame: Frame) -> Option<SourceItem<Payload>> {
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong { prefix, length } => {
                return Some(invalid(
                    prefix,
                    format!("line of {length} bytes is longer than max_line_length"),
                ))
            }
        };
        match self {
            Format::Lines => Some(match std::str::from_utf8(&line) {
                Ok(text) => record(serde_json::Value::String(text.to_owned())),
                Err(error) => invalid(line, format!("invalid UTF-8: {error}")),
            }),
            Format::Json if line.trim_ascii().is_empty() => None,
            Format::Json => Some(match serde_json::from_slice(&line) {
                Ok(value) => record(value),
                Err(error) => invalid(line, format!("malformed JSON: {error}")),
            }),
        }
    }
}

fn record(value: serde_json::Value) -> SourceItem<Payload> {
    SourceItem::Record(Emitted::from(payload(value)))
}

/// Input that is not a record; its raw bytes go to the dead letters.
pub fn invalid(raw: Bytes, reason: String) -> SourceItem<Payload> {
    SourceItem::Invalid {
        raw,
        reason,
        on_ack: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(item: Option<SourceItem<Payload>>) -> String {
        match item {
            Some(SourceItem::Invalid { reason, .. }) => reason,
            _ => panic!("expected an invalid item"),
        }
    }

    fn value(item: Option<SourceItem<Payload>>) -> serde_json::Value {
        match item {
            Some(SourceItem::Record(emitted)) => (*emitted.payload).clone(),
            _ => panic!("expected a record"),
        }
    }

    fn line(bytes: &'static [u8]) -> Frame {
        Frame::Line(Bytes::from_static(bytes))
    }

    #[test]
    fn reads_text_and_json() {
        assert_eq!(value(Format::Lines.item(line(b"hi"))), "hi");
        assert_eq!(value(Format::Json.item(line(b"{\"a\":1}")))["a"], 1);
        assert!(Format::Json.item(line(b"  ")).is_none());
    }

    #[test]
    fn bad_input_is_invalid_with_a_reason() {
        assert!(reason(Format::Lines.item(line(b"\xff\xfe"))).starts_with("invalid UTF-8"));
        assert!(reason(Format::Json.item(line(b"{nope"))).starts_with("malformed JSON"));
        let long = Frame::TooLong {
            prefix: Bytes::from_static(b"abc"),
            length: 9,
        };
        assert!(reason(Format::Lines.item(long)).contains("9 bytes"));
    }
}
