//! HTTP sink (in progress).
