#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/integration/doc tests, and the
# loom model of the queue's core. Installs what the tests need and the
# machine lacks: the jq stage's tests compare with the `jq` binary (Debian's
# `jq`); the metrics tests run `promtool` and a real `prometheus` (Debian's
# `prometheus`), and `weir top` under `tmux`; the nats tests start their own
# `nats-server -js` (Debian's `nats-server`); the Rust toolchain comes with
# the machine through rustup.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
missing=()
command -v jq >/dev/null || missing+=(jq)
{ command -v promtool && command -v prometheus; } >/dev/null || missing+=(prometheus)
command -v tmux >/dev/null || missing+=(tmux)
command -v nats-server >/dev/null || missing+=(nats-server)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update && apt-get install -y "${missing[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
# Its own target directory: other flags would otherwise rebuild (and
# overwrite) the release artifacts the bench and the binary are built in.
RUSTFLAGS="--cfg weir_loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p weir-core --test loom_queue --release --locked -- --test-threads=2
