#!/usr/bin/env bash
# Fault injection at scale (issue 14): kill -9 of `team send`, `team inbox` and
# `team task claim` at seeded random moments, N iterations per engine (default 300), asserting
# 0 lost, 0 duplicated, 0 stuck. The same test CI runs with 20 iterations
# (tests/it/faults.rs). PostgreSQL through TEAM_TEST_DATABASE_URL.
#
#   TEAM_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/faults.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export TEAM_FAULT_ITERATIONS="${1:-300}"
export TEAM_FAULT_SEED="${2:-14}"
if [[ -z "${TEAM_TEST_DATABASE_URL:-}" ]]; then
    echo "TEAM_TEST_DATABASE_URL is unset: the PostgreSQL half would be skipped" >&2
    exit 2
fi
exec cargo test -p team-cli --test it -- faults:: --nocapture --test-threads=1
