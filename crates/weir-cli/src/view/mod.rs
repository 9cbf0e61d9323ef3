//! Live terminal view of a running pipeline and the end-of-run summary.
