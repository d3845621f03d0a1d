#!/usr/bin/env bash
# Screenshots of the MLflow UI after a search: the runs view and the chart view, as a user opens them.
#
#   docs/screenshots.sh                       # after a default search (minutes), into docs/
#   docs/screenshots.sh --task digits-mlp --strategy random --budget 12 --epochs 1   # a quick one
#   STORE=sqlite:////path/mlflow.db docs/screenshots.sh   # the pictures of a search already in that store
#
# Every argument goes to `keras-nos search`. The search writes into a fresh SQLite store in a temporary
# folder; a real `mlflow server` serves it on 127.0.0.1 and headless Chromium (Debian: apt-get install
# chromium) takes the pictures: docs/mlflow_runs.png and docs/mlflow_charts.png (OUT=folder to change).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/docs}"
PORT="${PORT:-5077}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ]; then
    echo "screenshots.sh: error: no chromium; install it (apt-get install chromium) or set CHROMIUM" >&2
    exit 2
fi
WORK="$(mktemp -d)"
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${STORE:-}" ]; then
    STORE="sqlite:///$WORK/mlflow.db"
    (cd "$WORK" && PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" python -m keras_nos.cli search --tracking-uri "$STORE" \
        --no-progress "$@")
fi

# MLflow's background job runner (eight processes, for GenAI scoring) is not needed to look at runs.
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false python -m mlflow server --host 127.0.0.1 --port "$PORT" --workers 1 \
    --backend-store-uri "$STORE" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 1
done
curl -fs "http://127.0.0.1:$PORT/health" >/dev/null || { echo "screenshots.sh: error: mlflow server on port $PORT \
did not answer in 120 s" >&2; exit 1; }
EXPERIMENT="$(curl -fs "http://127.0.0.1:$PORT/api/2.0/mlflow/experiments/get-by-name?experiment_name=keras-nos" |
    python -c 'import json, sys; print(json.load(sys.stdin)["experiment"]["experiment_id"])')"

shoot() {  # URL PNG: the page after 60 s of its (virtual) time, when the charts have drawn
    timeout 300 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=2000,1300 \
        --virtual-time-budget=60000 --screenshot="$2" "$1" 2>>"$WORK/chromium.log"
    echo "wrote $2 ($1)"
}
mkdir -p "$OUT"
RUNS="http://127.0.0.1:$PORT/#/experiments/$EXPERIMENT/runs"
# The runs view as the README suggests reading it: the candidates, best reward first.
shoot "$RUNS?searchFilter=tags.keras_nos.stage+%3D+%27search%27&orderByKey=metrics.%60reward%60&orderByAsc=false" \
    "$OUT/mlflow_runs.png"
shoot "$RUNS?compareRunsMode=CHART" "$OUT/mlflow_charts.png"
