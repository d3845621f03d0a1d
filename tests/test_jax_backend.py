"""The optimizer tests again with KERAS_BACKEND=jax, in a fresh interpreter (the backend is fixed at import).

Tests marked ``tensorflow_only`` are deselected there; any other skip fails this test.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="this session already runs the tests on JAX")
def test_optimizers_on_jax():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_optimizers.py", "-q", "-n", "0", "-p", "no:cacheprovider",
         "-m", "not tensorflow_only"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = [line for line in output.splitlines() if re.search(r"\d+ passed", line)]
    assert summary, output[-3000:]
    assert not re.search(r"failed|error|skipped", summary[-1]), summary[-1]
