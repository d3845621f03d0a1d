#!/usr/bin/env bash
# The device check (issue 30), sized for a 10-minute run on a lent GPU machine; run from the repository root:
#
#     bash benchmarks/gpu_check.sh                 # the device sizes; figures and logs into $OUT (or a temp folder)
#     bash benchmarks/gpu_check.sh --tiny          # the CPU test's size
#
# Arguments go to benchmarks/gpu_check.py (see its --help). Nothing is downloaded: the machine has no
# internet, so the repository's dependencies (keras, jax with its GPU plugin, tensorflow, mlflow) must be
# installed already; keras_nos itself is imported from this checkout (PYTHONPATH), installed or not.
# CIFAR-10 comes from --data, $KERAS_NOS_CIFAR10 or ../shared/data/cifar10-jpeg.tar.gz; without it the
# CIFAR-10 parts are skipped with a line. Exit status: gpu_check.py's (1 when a part failed),
# 124 when the whole run passed its 540 s.
set -u
cd "$(dirname "$0")/.." || exit 2

export KERAS_BACKEND=jax
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
PYTHON="${PYTHON:-python}"

if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L
else
    echo "gpu_check.sh: no nvidia-smi on this machine"
fi

# keras_nos from this checkout, installed or not (a missing dependency fails the first part, with its error)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

timeout --signal=TERM --kill-after=15 540 "$PYTHON" benchmarks/gpu_check.py "$@"
status=$?
if [ "$status" -eq 124 ]; then
    echo "gpu_check.sh: stopped after 540 s"
fi
exit "$status"
