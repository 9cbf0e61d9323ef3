//! Limiters (in progress).
