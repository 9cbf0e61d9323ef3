//! `type = "throttle"` (or `"rate_limit"`): passes records on unchanged, at
//! most at the stage's `rate`; with a slow rate it makes a deliberately slow
//! step, which is how the quickstart shows backpressure.

use serde::Deserialize;
use weir::stage::Stage;

use crate::record::Payload;

/// The `[[stage]]` options of `type = "throttle"`: none besides the generic
/// ones, of which `rate` is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleStageConfig {}

/// The pass-through stage; its pace comes from the generic `rate` option.
pub fn build() -> Stage<Payload, Payload> {
    Stage::inspect(|_| {})
}
