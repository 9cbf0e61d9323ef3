//! The pipeline file.
pub mod units;
