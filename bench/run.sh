#!/usr/bin/env bash
# bench/run.sh: the benchmarks of issue 6. Builds the `dist` binaries (Cargo.toml's size-optimised profile), runs every benchmark,
# and writes BENCHMARKS.md at the repository root (machine, command, date, a results table of
# target vs measured, details, and the findings kept in bench/findings.md).
#
#   bench/run.sh                         # everything, ~2 minutes plus the build
#   BENCH_N1000=0 bench/run.sh           # without the N = 1000 fan-out (one run, ~5 s)
#   BENCH_ONLY="fanout cold" bench/run.sh   # a subset: fanout fanout-cpu cold claims cli wake-local wake-send idle hosts
#
# Environment:
#   BENCH_PG_URL  PostgreSQL server for the PostgreSQL variants (each creates and drops a schema
#                 of its own); default postgres://postgres@127.0.0.1:5432/test; empty skips them.
#   BENCH_RUNS    fan-out runs per N (default 3; the median is reported).
#   BENCH_N1000   0 to skip the N = 1000 fan-out (it needs ~2 100 open files: the soft limit
#                 is raised to the hard one, and N = 1000 is skipped below 4 096).
#   BENCH_ONLY    run only these benchmarks (the report then shows the others as skipped).
#   BENCH_OUT     where to write the report (default: BENCHMARKS.md at the root).
#   BENCH_KEEP    1 to keep the fan-out project directories (under the results directory).
#   BENCH_BUILD   0 to skip `cargo build` and measure the `dist` binaries already built.
#   BENCH_CPU_US  CPU cost per request of the CPU-hungry server of `fanout-cpu` (default 100 µs:
#                 `scripted-llm --cpu-us`, one thread, like a Python mock sharing the cores).
#   BENCH_TEAM_B  a second `team` binary for `cli` to compare with (A/B, alternating).
# Raw results go to target/bench-results/latest/ (JSON per benchmark, fanout.jsonl, logs).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PG_URL=${BENCH_PG_URL-postgres://postgres@127.0.0.1:5432/test}
RUNS=${BENCH_RUNS:-3}
N1000=${BENCH_N1000:-1}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$N1000" = 1 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    echo "bench: open-file limit $(ulimit -n) < 4096: the N = 1000 fan-out is skipped" >&2
    N1000=0
fi
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
LATENCY_MS=200

command_line="bench/run.sh"
[ -n "${BENCH_RUNS:-}" ] && command_line="BENCH_RUNS=$RUNS $command_line"
[ "$N1000" = 0 ] && command_line="BENCH_N1000=0 $command_line"
[ -n "$ONLY" ] && command_line="BENCH_ONLY=\"$ONLY\" $command_line"
[ "${BENCH_BUILD:-1}" = 0 ] && command_line="BENCH_BUILD=0 $command_line"

wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "${BENCH_BUILD:-1}" != 0 ]; then
    log "building dist binaries"
    cargo build --profile dist --quiet -p team-cli -p team-testkit -p team-bench
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=$TARGET_DIR/bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS/bin"
ln -sfn "$RESULTS" "$TARGET_DIR/bench-results/latest"
# Keep the last five runs (each holds a copy of the binaries).
ls -dt "$TARGET_DIR"/bench-results/2* 2>/dev/null | tail -n +6 | xargs -r rm -rf
log "results in $RESULTS"
# Copies, so that a build started meanwhile (the target directory is shared) cannot swap the
# binaries halfway through; they also stay next to the results for profiling.
cp -p "$TARGET_DIR/dist/team" "$TARGET_DIR/dist/scripted-llm" "$TARGET_DIR/dist/team-bench" "$RESULTS/bin/"
TEAM=$RESULTS/bin/team
LLM=$RESULTS/bin/scripted-llm
BENCH=$RESULTS/bin/team-bench

# A clean environment for every `team` the benchmarks start.
unset TEAM_DATABASE_URL TEAM_MAX_AGENTS TEAM_MEMBER_TIMEOUT_SECS TEAM_MODEL TEAM_LOG RUST_LOG \
    XDG_CONFIG_HOME OPENAI_API_KEY OPENAI_BASE_URL ANTHROPIC_API_KEY
export CI=true NO_COLOR=1
export TEAM_CONFIG_HOME="$RESULTS/user-config"
mkdir -p "$TEAM_CONFIG_HOME"

json_str() { printf '%s' "$1" | tr -d '"\\' | tr '\n' ' '; }

# ---------------------------------------------------------------- machine
pg_ok=0
if [ -n "$PG_URL" ]; then
    if psql "$PG_URL" -qtAc 'select 1' >/dev/null 2>&1; then
        pg_ok=1
    else
        log "PostgreSQL at $PG_URL is not reachable: its variants are skipped"
    fi
fi
# The build is of the working tree: name the files that differ from the commit.
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')
[ -n "$dirty" ] && dirty=" plus uncommitted changes to: $dirty"
cat >"$RESULTS/machine.json" <<EOF
{
  "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty",
  "cpu": "$(json_str "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)")",
  "cores": "$(nproc)",
  "mem": "$(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo)",
  "kernel": "$(json_str "$(uname -sr)")",
  "rustc": "$(json_str "$(rustc -V)")",
  "load": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "command": "$(json_str "$command_line")",
  "settings": "$([ "${BENCH_BUILD:-1}" = 0 ] && echo "prebuilt binaries of $(date -u -r "$TEAM" '+%H:%M UTC') (BENCH_BUILD=0), not necessarily of this commit; ")fan-out L = ${LATENCY_MS} ms, ${RUNS} runs per N$([ "$N1000" = 1 ] && echo ', N = 1000 once' || echo ', N = 1000 skipped'); PostgreSQL: $([ $pg_ok = 1 ] && json_str "$(echo "$PG_URL" | sed 's#//[^@]*@#//***@#')" || echo 'skipped')"
}
EOF

# run_step NAME CMD...: the command's stdout (one JSON object) becomes NAME.json; on failure
# its stderr becomes NAME.err (the report says why the row is missing).
run_step() {
    local name=$1
    shift
    log "$name"
    if "$@" >"$RESULTS/$name.json" 2>"$RESULTS/$name.log"; then
        rm -f "$RESULTS/$name.err"
    else
        mv "$RESULTS/$name.log" "$RESULTS/$name.err"
        rm -f "$RESULTS/$name.json"
        log "$name failed: $(tail -1 "$RESULTS/$name.err")"
    fi
}

backends() {
    echo sqlite
    [ $pg_ok = 1 ] && echo postgres
    return 0
}
db_arg() { if [ "$1" = sqlite ]; then echo sqlite; else echo "$PG_URL"; fi; }

# ---------------------------------------------------------------- in-process parts
if wanted cold; then
    for b in $(backends); do
        run_step "cold_start-$b" "$BENCH" cold-start --team-bin "$TEAM" --db "$(db_arg "$b")" --teams 100 --runs 30
    done
fi
if wanted claims; then
    for b in $(backends); do
        run_step "claims-$b" "$BENCH" claims --db "$(db_arg "$b")" --procs 8 --tasks 4000
        # The batched claim (`team task claim --count 10`), its own row.
        run_step "claims_batch-$b" "$BENCH" claims --db "$(db_arg "$b")" --procs 8 --tasks 4000 --count 10
    done
fi
if wanted cli; then
    for b in $(backends); do
        run_step "cli_ops-$b" "$BENCH" cli-ops --db "$(db_arg "$b")" --team-bin "$TEAM" \
            ${BENCH_TEAM_B:+--team-bin-b "$BENCH_TEAM_B"} --runs 40
    done
fi
if wanted wake-local; then
    for b in $(backends); do
        run_step "wake_local-$b" "$BENCH" wake-local --db "$(db_arg "$b")" --samples 200
    done
fi
# Issue 19: runners on simulated hosts (Linux namespaces: needs root) on PostgreSQL.
if wanted hosts && [ $pg_ok = 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        run_step "hosts_scaling-postgres" "$BENCH" hosts --mode scaling --db "$PG_URL" --team-bin "$TEAM" --hosts 3 --members 60 --work-ms 1000 --max-agents 10
        run_step "hosts_wake-postgres" "$BENCH" hosts --mode wake --db "$PG_URL" --team-bin "$TEAM" --samples 100
        run_step "hosts_recovery-postgres" "$BENCH" hosts --mode recovery --db "$PG_URL" --team-bin "$TEAM" --hosts 3 --members 12 --work-ms 2000 --max-agents 8 --heartbeat-ms 500
    else
        log "hosts: simulated hosts need root (namespaces): skipped"
    fi
fi
if wanted wake-send; then
    for b in $(backends); do
        run_step "wake_send-$b" "$BENCH" wake-send --db "$(db_arg "$b")" --team-bin "$TEAM" --samples 100
    done
fi
if wanted idle; then
    run_step "idle_rss-llm" "$BENCH" idle-rss --team-bin "$TEAM" --members 1000 --kind llm
    run_step "idle_rss-command" "$BENCH" idle-rss --team-bin "$TEAM" --members 1000 --kind command
fi

# ---------------------------------------------------------------- fan-out
# fanout_run N RUN: one `team run fanout` in a fresh project against a fresh scripted server;
# appends one JSON line to fanout.jsonl.
# fanout_run N RUN [CPU_US BACKEND OUT]: with CPU_US, against a CPU-hungry server (one thread,
# CPU_US µs of CPU per request); BACKEND sqlite (default) or postgres (a fresh schema); the
# JSON line goes to OUT (default fanout.jsonl).
fanout_run() {
    local n=$1 run=$2 cpu_us=${3:-0} backend=${4:-sqlite} out=${5:-$RESULTS/fanout.jsonl}
    local dir schema="" db_url=""
    dir=$(mktemp -d "${TMPDIR:-/tmp}/team-fanout-XXXXXX")
    (cd "$dir" && "$TEAM" init >/dev/null)
    if [ "$backend" = postgres ]; then
        schema="bench_fanout_$$_$RANDOM"
        psql "$PG_URL" -qc "CREATE SCHEMA $schema" >/dev/null
        case "$PG_URL" in *\?*) db_url="$PG_URL&options=-csearch_path%3D$schema" ;; *) db_url="$PG_URL?options=-csearch_path%3D$schema" ;; esac
        # Migrated before the timed run, as `team init` did the SQLite file above: the row
        # measures the fan-out, not a new database's first migration (~0.1-0.2 s of DDL on
        # PostgreSQL, which a deployment pays once).
        (cd "$dir" && TEAM_DATABASE_URL="$db_url" "$TEAM" list >/dev/null 2>&1)
    fi
    "$LLM" --port 0 --latency-ms "$LATENCY_MS" --cpu-us "$cpu_us" >"$dir/llm.out" 2>&1 &
    local llm_pid=$!
    local url=""
    for _ in $(seq 200); do
        url=$(sed -n 's/^listening //p' "$dir/llm.out")
        [ -n "$url" ] && break
        sleep 0.025
    done
    if [ -z "$url" ]; then
        log "scripted-llm did not start"
        kill "$llm_pid" 2>/dev/null || true
        return 1
    fi
    cat >"$dir/.team/config.toml" <<EOF
[team]
max_agents = $n

[providers.mock]
kind = "openai"
base_url = "$url/v1"
api_key_env = ""
max_concurrent_requests = $n
request_timeout_secs = 60
EOF
    printf -- '---\nmodel: mock/bench\n---\nYou answer in one line.\n' >"$dir/.team/agents/worker.md"
    printf -- '---\nmodel: mock/bench\n---\nYou merge results.\n' >"$dir/.team/agents/fan-lead.md"
    cp "$ROOT/bench/fanout.toml" "$dir/.team/workflows/fanout.toml"
    local t0 t1 code
    t0=$EPOCHREALTIME
    set +e
    (cd "$dir" && { [ -z "$db_url" ] || export TEAM_DATABASE_URL="$db_url"; } && /usr/bin/time -v -o "$dir/time.txt" "$TEAM" run fanout --set "count=$n" \
        --max-agents "$n" --output "$dir/report.md" >"$dir/run.out" 2>"$dir/run.err")
    code=$?
    set -e
    t1=$EPOCHREALTIME
    # The scripted server's own CPU (user + sys, clock ticks → s): with `--cpu-us` its CPU per
    # request is the c of the ideal, plus what parsing and TCP cost it.
    local llm_cpu
    llm_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$llm_pid/stat" 2>/dev/null || echo null)
    kill -TERM "$llm_pid" 2>/dev/null || true
    wait "$llm_pid" 2>/dev/null || true
    local in_flight requests
    in_flight=$(grep -o '"max_in_flight": *[0-9]*' "$dir/llm.out" | grep -o '[0-9]*$' || echo null)
    requests=$(grep -o '"requests": *[0-9]*' "$dir/llm.out" | grep -o '[0-9]*$' || echo null)
    [ -n "$schema" ] && psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
    awk -v n="$n" -v run="$run" -v code="$code" -v t0="$t0" -v t1="$t1" -v cpu_us="$cpu_us" -v backend="$backend" \
        -v inflight="${in_flight:-null}" -v requests="${requests:-null}" -v llm_cpu="${llm_cpu:-null}" '
        /Elapsed \(wall clock\)/ {
            k = split($NF, p, ":"); wall = 0
            for (i = 1; i <= k; i++) wall = wall * 60 + p[i]
        }
        /User time \(seconds\)/ { user = $NF }
        /System time \(seconds\)/ { sys = $NF }
        /Maximum resident set size/ { rss = $NF }
        END {
            printf "{\"n\": %d, \"run\": %d, \"exit\": %d, \"max_agents\": %d, \"latency_ms\": %d, ", n, run, code, n, '"$LATENCY_MS"'
            printf "\"wall_s\": %s, \"wall_hr_s\": %.4f, \"user_s\": %s, \"sys_s\": %s, \"rss_kb\": %s, ", wall + 0, t1 - t0, user + 0, sys + 0, rss + 0
            printf "\"max_in_flight\": %s, \"requests\": %s, \"cpu_us\": %d, \"backend\": \"%s\", \"llm_cpu_s\": %s}\n", inflight, requests, cpu_us, backend, llm_cpu
        }' "$dir/time.txt" >>"$out"
    if [ "$code" != 0 ]; then
        log "fan-out N=$n run $run exited $code: $(tail -3 "$dir/run.err" | tr '\n' ' ')"
        cp "$dir/run.err" "$RESULTS/fanout-$n-$run.err"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        mv "$dir" "$RESULTS/fanout-$n-$run"
    else
        rm -rf "$dir"
    fi
}

if wanted fanout; then
    : >"$RESULTS/fanout.jsonl"
    ns="1 10 50 200"
    [ "$N1000" = 1 ] && ns="$ns 1000"
    for n in $ns; do
        runs=$RUNS
        [ "$n" = 1000 ] && runs=1
        for r in $(seq "$runs"); do
            log "fan-out N=$n run $r/$runs"
            fanout_run "$n" "$r" || log "fan-out N=$n run $r failed"
        done
    done
fi

# N = 1000 against a CPU-hungry server (issue 19), on each engine: fanout_cpu.jsonl.
if wanted fanout-cpu; then
    : >"$RESULTS/fanout_cpu.jsonl"
    if [ "$N1000" = 1 ]; then
        for b in $(backends); do
            for r in $(seq "$RUNS"); do
                log "fan-out N=1000 against a CPU-hungry server (${BENCH_CPU_US:-100} µs/request), $b, run $r/$RUNS"
                fanout_run 1000 "$r" "${BENCH_CPU_US:-100}" "$b" "$RESULTS/fanout_cpu.jsonl" ||
                    log "fan-out N=1000 (CPU-hungry server, $b) run $r failed"
            done
        done
    fi
fi

# ---------------------------------------------------------------- report
"$BENCH" report --results "$RESULTS" --out "$OUT" --findings "$ROOT/bench/findings.md"
log "wrote $OUT"
