//! `type = "throttle"` (or `"rate_limit"`): passes records on unchanged, at
//! most at the stage's `rate`; with a slow rate it makes a deliberately slow
//! step, which is how the quickstart shows backpressure.

use std::convert::Infallible;

use serde::Deserialize;
use weir::stage::Stage;

use crate::connector::StageConnector;
use crate::record::Payload;
use crate::stages::StageOptions;

/// The `[[stage]]` options of `type = "throttle"`: none besides the generic
/// ones, of which `rate` is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThrottleStageConfig {}

impl StageConnector for ThrottleStageConfig {
    const TYPE: &'static str = "throttle";
    const ALIASES: &'static [&'static str] = &["rate_limit"];
    type Error = Infallible;

    fn check(&self, options: &StageOptions) -> Result<(), String> {
        match options.rate {
            Some(_) => Ok(()),
            None => Err("a throttle stage needs a `rate`, like \"100/s\"".to_owned()),
        }
    }

    /// The pass-through stage; its pace comes from the generic `rate` option.
    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Infallible> {
        Ok(Stage::inspect(|_| {}))
    }
}
