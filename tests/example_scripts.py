"""Running an example script as a user would (a subprocess), and checking its one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(script, *args, cwd, timeout=300):
    """Run ``examples/<script>`` with the checkout's keras_nos and no MLflow or data env vars."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("MLFLOW_TRACKING_URI", "KERAS_NOS_CIFAR10"):
        env.pop(name, None)
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc, prog, *needles):
    """Exit status 2 and exactly one stderr line ``prog: error: ...`` holding every needle."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{prog}: error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]
