//! The keys a config type takes, read from its `Deserialize` impl.
//!
//! A table of the pipeline file is shared by several typed parts (a stage's
//! own options, an embedded option group such as the HTTP call options, the
//! options every stage takes), each taking the keys its fields name. The
//! derive already knows those names: [`field_names`] asks it, so no list of
//! keys is kept by hand beside a struct.
//!
//! For `struct Limits { capacity: u32, when_full: String }` deriving
//! `Deserialize`, `field_names::<Limits>()` is `["capacity", "when_full"]`
//! (with serde's renames applied; see the tests).

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The field names of a struct deriving `Deserialize` (without
/// `#[serde(flatten)]`); empty for any other type.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The deserializer records the names and then fails on purpose: nothing
    // is deserialized, so the error is expected and carries nothing.
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that only records the field list it is asked for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names read")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Options {
        name: String,
        #[serde(rename = "max")]
        maximum: Option<u32>,
        #[serde(default)]
        ordered: bool,
    }

    #[test]
    fn names_the_fields_as_the_file_spells_them() {
        assert_eq!(field_names::<Options>(), ["name", "max", "ordered"]);
    }

    #[test]
    fn a_type_that_is_no_struct_has_none() {
        assert!(field_names::<u32>().is_empty());
        assert!(field_names::<std::collections::BTreeMap<String, u32>>().is_empty());
    }
}
