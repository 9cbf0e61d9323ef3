//! HTTP stage (in progress).
