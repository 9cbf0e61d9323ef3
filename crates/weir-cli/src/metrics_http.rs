//! Prometheus text exposition of a running pipeline's metrics over HTTP.
