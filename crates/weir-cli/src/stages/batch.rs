//! `type = "batch"`: groups records into JSON arrays of up to `size`,
//! sending a partial batch once `max_wait` has passed since its first
//! record (the engine's batch stage, joining each batch into one array).

use serde::Deserialize;
use std::num::NonZeroUsize;

use crate::config::HumanDuration;
use crate::record::{payload, Payload};

/// The `[[stage]]` options of `type = "batch"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchStageConfig {
    /// Records per batch at most.
    pub size: NonZeroUsize,
    /// How long a partial batch waits for more records.
    pub max_wait: HumanDuration,
}

/// One batch as one record: a JSON array of its records.
pub fn join(batch: Vec<Payload>) -> Payload {
    payload(batch.iter().map(|record| (**record).clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_is_an_array() {
        let batch = vec![payload(json!(1)), payload(json!("a"))];
        assert_eq!(*join(batch), json!([1, "a"]));
    }
}
