#!/usr/bin/env bash
# Mutation testing of the files that keep weir's promise ("nothing is lost,
# and the books tell the truth"). Slow (minutes per file on 2 cores), so not
# part of CI or scripts/test.sh; rerun after changing these files and update
# MUTANTS.md. Needs `cargo install cargo-mutants --locked`.
#
#   scripts/mutants.sh            # every group below
#   scripts/mutants.sh engine     # one group: engine | transform | queue
#
# Results land in mutants.out/<group>/mutants.out (caught.txt, missed.txt,
# timeout.txt, unviable.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${MUTANTS_JOBS:-1}"

run() {
    local group="$1"
    shift
    mkdir -p "mutants.out/$group"
    # `|| true`: cargo-mutants exits non-zero when a mutant survives; the
    # lists in mutants.out say which.
    cargo mutants --jobs "$JOBS" --copy-target=true --timeout 60 --build-timeout 600 \
        --output "mutants.out/$group" "$@" || true
}

engine() {
    # The engine's own tests, without the timing-based bottleneck verdicts.
    run engine \
        --file crates/weir/src/pipeline/unflushed.rs \
        --file crates/weir/src/pipeline/sink.rs \
        --file crates/weir/src/pipeline/dead_letters.rs \
        --file crates/weir/src/ack.rs \
        --file crates/weir/src/accounting.rs \
        -- --lib --test engine -- --skip bottleneck::
}

transform() {
    run transform --file crates/weir/src/stage/transform.rs \
        -- --lib --test engine -- --skip bottleneck::
}

queue() {
    run queue --file crates/weir-core/src/queue/core.rs -- --lib --tests
}

if [ "$#" -eq 0 ]; then
    set -- engine transform queue
fi
for group in "$@"; do
    "$group"
done
