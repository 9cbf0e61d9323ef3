//! A line of JSON read straight into a jq value.
//!
//! jaq's own reader (`jaq_json::read`, on hifijson) is what `jq` semantics
//! need at the edges (numbers beyond `f64`, exact literals), but it is the
//! slower reader: `weir-bench cli` had the `json` stage, which parses with
//! serde_json and converts to a jq value, at 1.3x the jq stage that used
//! jaq's reader. So a record is read with serde_json's parser straight into
//! jaq's [`Val`] (no `serde_json::Value` in between); what serde_json
//! cannot read (a number out of `f64`'s range, say) falls back to jaq's
//! reader, whose error is the one reported. A number written with a
//! fraction or exponent that is an integer (`1e3`, `3.0`) is read as that
//! integer, as jq 1.6 reads it.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use jaq_json::{Num, Val};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// `text` as a jq value, or why it is not JSON (jaq's words).
pub(crate) fn read(text: &[u8]) -> Result<Val, String> {
    let mut input = serde_json::Deserializer::from_slice(text);
    match ValSeed
        .deserialize(&mut input)
        .and_then(|val| input.end().map(|()| val))
    {
        Ok(val) => Ok(val),
        Err(_) => jaq_json::read::parse_single(text).map_err(|error| error.to_string()),
    }
}

/// Finds the top-level fields `names` of a JSON object without keeping
/// their values: `spans[i]` becomes where the value of `names[i]` is in
/// `text` (the last one if repeated, `None` if absent). Every value is
/// checked as strictly as [`read`] reads it ([`Check`]). `None` when
/// `text` is not one JSON object that [`read`] would take from serde_json:
/// the caller then reads it whole with [`read`], whose answer (or error)
/// is the one that counts. A span is read into a value with [`read_span`].
pub(crate) fn find_fields(
    text: &str,
    names: &[Box<str>],
    spans: &mut Vec<Option<Range<usize>>>,
) -> Option<()> {
    spans.clear();
    spans.resize(names.len(), None);
    let mut input = serde_json::Deserializer::from_str(text);
    input
        .deserialize_map(FieldsVisitor { text, names, spans })
        .and_then(|()| input.end())
        .ok()
}

/// The value at a span [`find_fields`] found, or `None` if serde_json
/// cannot read it (a number out of `f64`'s range): the caller then reads
/// the record whole with [`read`].
pub(crate) fn read_span(text: &str, span: Range<usize>) -> Option<Val> {
    ValSeed
        .deserialize(&mut serde_json::Deserializer::from_str(&text[span]))
        .ok()
}

/// A JSON number with a fraction or an exponent as jq reads it: `1e3` and
/// `3.0` are the integers jq 1.6 makes of them (it prints `1000` and `3`;
/// jaq's reader would keep the literal). Also used for records already
/// parsed (`jq::json_to_val`), so a record behaves the same whichever way
/// it came.
pub(crate) fn float(n: f64) -> Val {
    const EXACT: f64 = (1u64 << 53) as f64;
    Val::Num(if n.fract() == 0.0 && n.abs() < EXACT {
        Num::from_integral(n as i64)
    } else {
        Num::Float(n)
    })
}

/// Builds a [`Val`] from any self-describing input.
struct ValSeed;

impl<'de> DeserializeSeed<'de> for ValSeed {
    type Value = Val;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Val, D::Error> {
        input.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
        Ok(Val::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Val, E> {
        Ok(Val::Num(Num::from_integral(n)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Val, E> {
        Ok(Val::Num(Num::from_integral(n)))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Val, E> {
        Ok(float(n))
    }

    // `Val::from(String)` makes a `Bytes` that owns the string: three
    // allocations a string; a copy into a `Bytes` of its own makes two.
    fn visit_str<E>(self, text: &str) -> Result<Val, E> {
        Ok(Val::utf8_str(Bytes::copy_from_slice(text.as_bytes())))
    }

    fn visit_string<E>(self, text: String) -> Result<Val, E> {
        Ok(Val::utf8_str(Bytes::from(text.into_bytes())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Val, A::Error> {
        let mut all = Vec::with_capacity(items.size_hint().unwrap_or(0));
        while let Some(item) = items.next_element_seed(ValSeed)? {
            all.push(item);
        }
        Ok(all.into_iter().collect())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<Val, A::Error> {
        let mut map = jaq_json::Map::default();
        map.reserve(fields.size_hint().unwrap_or(8));
        while let Some(key) = fields.next_key::<String>()? {
            let value = fields.next_value_seed(ValSeed)?;
            map.insert(Val::from(key), value);
        }
        Ok(Val::obj(map))
    }
}

/// Fills the spans of [`find_fields`]; anything but an object is an error.
struct FieldsVisitor<'a> {
    text: &'a str,
    names: &'a [Box<str>],
    spans: &'a mut Vec<Option<Range<usize>>>,
}

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<(), A::Error> {
        while let Some(slot) = fields.next_key_seed(SlotSeed(self.names))? {
            match slot {
                Some(slot) => {
                    // Borrowed from `text`: its place there is its span.
                    // Taking it checks only its syntax; it is checked as
                    // the others are too (even if a later repeat of the
                    // key replaces it, as `read` would have read it).
                    let raw: &RawValue = fields.next_value()?;
                    // A fresh reader counts nesting from the field, one
                    // level less than the record's: a value near serde_json's
                    // limit goes the whole way instead.
                    if nesting(raw.get()) >= DEEP {
                        return Err(de::Error::custom("nested too deep for a span"));
                    }
                    Check
                        .deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
                        .map_err(de::Error::custom)?;
                    let start = raw.get().as_ptr() as usize - self.text.as_ptr() as usize;
                    self.spans[slot] = Some(start..start + raw.get().len());
                }
                None => fields.next_value_seed(Check)?,
            }
        }
        Ok(())
    }
}

/// A captured field nested this deep is not checked on its own: serde_json
/// stops at 128 levels, counted from the record.
const DEEP: usize = 100;

/// How deep `json` (one syntactically valid value) nests arrays and
/// objects; brackets inside strings do not count.
fn nesting(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut bytes = json.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                // To the closing quote, past escaped characters.
                while let Some(byte) = bytes.next() {
                    match byte {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    deepest
}

/// A value checked as [`ValSeed`] would read it, but kept nowhere: string
/// escapes (a lone surrogate is an error), numbers (one beyond `f64` is an
/// error), nesting (serde_json's depth limit). serde's `IgnoredAny` checks
/// less (it takes `"\ud800"` and `1e1000`), and a record it passes that
/// [`read`] would not must still go to jaq's reader, whose answer differs
/// (an error, or integers kept exact).
struct Check;

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<(), D::Error> {
        input.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(Check)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<(), A::Error> {
        while fields.next_key_seed(Check)?.is_some() {
            fields.next_value_seed(Check)?;
        }
        Ok(())
    }
}

/// A key as the index of the name it matches, without allocating it.
struct SlotSeed<'a>(&'a [Box<str>]);

impl<'de> DeserializeSeed<'de> for SlotSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Option<usize>, D::Error> {
        input.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for SlotSeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|name| **name == *key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What jaq's own reader makes of `text`.
    fn jaq(text: &str) -> Val {
        jaq_json::read::parse_single(text.as_bytes()).unwrap()
    }

    #[test]
    fn reads_json_as_jq_prints_it() {
        for (text, printed) in [
            (
                r#"{"id":7,"level":"error","tags":["a","b"],"nested":{"x":null,"y":true}}"#,
                r#"{"id":7,"level":"error","tags":["a","b"],"nested":{"x":null,"y":true}}"#,
            ),
            (
                r#"[1, -2, 3.5, 1e3, 3.0, 18446744073709551615, "\u00e9\n"]"#,
                r#"[1,-2,3.5,1000,3,18446744073709551615,"é\n"]"#,
            ),
            // The last of a repeated key wins, in the first one's place.
            (r#"{"a":1,"b":0,"a":2}"#, r#"{"a":2,"b":0}"#),
            ("\"text\"", "\"text\""),
            ("  42  ", "42"),
        ] {
            assert_eq!(
                read(text.as_bytes()).unwrap().to_string(),
                printed,
                "{text}"
            );
        }
    }

    #[test]
    fn a_parsed_record_reads_as_its_text_does() {
        let text = r#"{"a":3.0,"b":1e3,"c":2.5,"d":[-7]}"#;
        let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            super::super::jq::json_to_val(&parsed).to_string(),
            read(text.as_bytes()).unwrap().to_string()
        );
        assert_eq!(
            read(text.as_bytes()).unwrap().to_string(),
            r#"{"a":3,"b":1000,"c":2.5,"d":[-7]}"#
        );
    }

    #[test]
    fn falls_back_to_jaqs_reader_and_its_errors() {
        // Beyond f64: serde_json refuses it, jaq reads it.
        assert_eq!(
            read(b"1e1000").unwrap().to_string(),
            jaq("1e1000").to_string()
        );
        let error = read(b"{\"a\": ").unwrap_err();
        assert_eq!(
            error,
            jaq_json::read::parse_single(b"{\"a\": ")
                .unwrap_err()
                .to_string()
        );
        assert!(read(b"{} {}").is_err(), "one value a record");
    }
}
