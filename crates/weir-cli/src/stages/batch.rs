//! `type = "batch"`: groups records into JSON arrays of up to `size`,
//! sending a partial batch once `max_wait` has passed since its first
//! record (the engine's batch stage, joining each batch into one array).

use std::convert::Infallible;
use std::num::NonZeroUsize;

use serde::Deserialize;
use weir::stage::Stage;

use crate::config::HumanDuration;
use crate::connector::StageConnector;
use crate::record::{payload, Payload};
use crate::stages::StageOptions;

/// The `[[stage]]` options of `type = "batch"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchStageConfig {
    /// Records per batch at most.
    size: NonZeroUsize,
    /// How long a partial batch waits for more records.
    max_wait: HumanDuration,
}

impl StageConnector for BatchStageConfig {
    const TYPE: &'static str = "batch";
    type Error = Infallible;

    fn check(&self, options: &StageOptions) -> Result<(), String> {
        if options.sets_run_options() {
            return Err("a batch stage takes only `name`, `size` and `max_wait`".to_owned());
        }
        Ok(())
    }

    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Infallible> {
        let (size, max_wait) = (self.size.get(), self.max_wait.0);
        Ok(Stage::batch(size, max_wait, |records| Ok(join(records))))
    }
}

/// One batch as one record: a JSON array of its records.
fn join(batch: Vec<Payload>) -> Payload {
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
