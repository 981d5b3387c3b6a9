#!/usr/bin/env bash
# bench/fanout-once.sh N [TEAM_BIN]: one fan-out of N members at L = 200 ms, as bench/run.sh
# runs it (same config, agents and workflow), under /usr/bin/time. Prints one line:
#   N=… exit=… WALL_S USER_S SYS_S PEAK_RSS_KB inflight=… llm_cpu_s=… (the scripted server's CPU)
# For profiling, WRAP wraps the `team` process, e.g.
#   WRAP="perf record -F 2000 --call-graph dwarf,32768 -o p.data --" bench/fanout-once.sh 200
# With KEEP=1 the project directory is kept and its path printed (the events table in
# .team/team.db has the run's timeline; clock_ms the process's spawn and exit, in Unix ms, so
# bench/timeline.py DIR prints the phases).
# CPU_US=100 runs the scripted server CPU-hungry (`--cpu-us`, one thread), as bench/run.sh's
# fanout-cpu; PG=postgres://… runs on a fresh PostgreSQL schema of that server (dropped after,
# unless KEEP=1) instead of SQLite.
# Needs the dist binaries (`cargo build --profile dist -p team-cli -p team-testkit`).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:?usage: bench/fanout-once.sh N [TEAM_BIN]}
TEAM=${2:-$ROOT/target/dist/team}
LLM=${LLM:-$ROOT/target/dist/scripted-llm}
d=$(mktemp -d); mkdir -p $d/.team/agents $d/.team/workflows
unset TEAM_DATABASE_URL RUST_LOG
export CI=true NO_COLOR=1 TEAM_CONFIG_HOME=$d/uc
schema=""
if [ -n "${PG:-}" ]; then
    schema="fanout_once_$$_$RANDOM"
    psql "$PG" -qc "CREATE SCHEMA $schema" >/dev/null
    case "$PG" in *\?*) export TEAM_DATABASE_URL="$PG&options=-csearch_path%3D$schema" ;; *) export TEAM_DATABASE_URL="$PG?options=-csearch_path%3D$schema" ;; esac
fi
$LLM --latency-ms 200 --port 0 --cpu-us "${CPU_US:-0}" > $d/llm.out 2>&1 &
lp=$!
for i in $(seq 200); do url=$(sed -n 's/^listening //p' $d/llm.out); [ -n "$url" ] && break; sleep 0.02; done
cat > $d/.team/config.toml <<EOC
[team]
max_agents = $N
[providers.mock]
kind = "openai"
base_url = "$url/v1"
api_key_env = ""
max_concurrent_requests = $N
request_timeout_secs = 60
EOC
printf -- '---\nmodel: mock/bench\n---\nYou answer in one line.\n' > $d/.team/agents/worker.md
printf -- '---\nmodel: mock/bench\n---\nYou merge results.\n' > $d/.team/agents/fan-lead.md
cp $ROOT/bench/fanout.toml $d/.team/workflows/
# The database is made and migrated before the timed run, as bench/run.sh's `team init` (and,
# on PostgreSQL, its `team list`) does: the run measures the fan-out, not a first migration.
(cd $d && $TEAM list >/dev/null 2>&1)
t0=${EPOCHREALTIME/./}
(cd $d && /usr/bin/time -f "%e %U %S %M" -o $d/t.txt ${WRAP:-} $TEAM run fanout --set count=$N --max-agents $N --output $d/r.md > $d/out 2> $d/err); code=$?
t1=${EPOCHREALTIME/./}
echo "$((t0 / 1000)) $((t1 / 1000))" > $d/clock_ms  # spawn and exit of /usr/bin/time, Unix ms
# The scripted server's own CPU (user + sys, clock ticks → s): it shares the machine's cores.
llm_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/$lp/stat 2>/dev/null)
kill -TERM $lp; wait $lp 2>/dev/null
inf=$(grep -o '"max_in_flight": *[0-9]*' $d/llm.out | grep -o '[0-9]*$')
echo "N=$N exit=$code $(cat $d/t.txt) inflight=$inf llm_cpu_s=$llm_cpu"
[ "$code" != 0 ] && tail -3 "$d/err"
if [ "${KEEP:-}" = 1 ]; then echo "kept $d${schema:+ (schema $schema)}"; tail -1 $d/llm.out; else
    rm -rf "$d"
    [ -n "$schema" ] && psql "$PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
fi
exit "$code"
