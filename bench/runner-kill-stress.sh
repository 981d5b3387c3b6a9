#!/usr/bin/env bash
# bench/runner-kill-stress.sh [ITERATIONS] [SEED]: the fault test of issue 14 at scale.
# Runs tests/runner/lost.rs `kill_9_of_runners_at_random_moments_leaves_nothing_lost_or_stuck`
# (both engines; PostgreSQL through TEAM_TEST_DATABASE_URL, default the local test server)
# with ITERATIONS iterations per engine (default 300; CI runs 3) from seed SEED (default 14).
# Each iteration: 4 members (quick and slow command agents) spawned in the background, the
# detached runner killed with SIGKILL at a random moment, then `team wait` must return and
# every member must be terminal (completed with its result, or failed: runner lost) with
# exactly one notice to its lead: 0 stuck, 0 lost, 0 duplicated. A failure names the
# iteration and seed.
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TEAM_FAULT_ITERATIONS=${1:-300}
export TEAM_FAULT_SEED=${2:-14}
export TEAM_TEST_DATABASE_URL=${TEAM_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
cd "$ROOT"
start=$(date +%s)
cargo test -p team-cli --test runner kill_9_of_runners_at_random_moments -- --nocapture
echo "iterations per engine: $TEAM_FAULT_ITERATIONS, seed $TEAM_FAULT_SEED, wall $(( $(date +%s) - start )) s"
