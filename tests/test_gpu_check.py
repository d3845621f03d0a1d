"""benchmarks/gpu_check.sh, the device check of issue 30, runs at its tiny size on the CPU.

On a lent GPU machine it runs at the device size (``bash benchmarks/gpu_check.sh``); here the same script and
program run on the CPU: the default task always, cifar10-convnet (smaller) and the reduced WRN run when the
shared CIFAR-10 copy is there.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_JPEGS = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
LINE = re.compile(r"^(?P<task>[\w-]+)(?: \(tiny[^)]*\))?: (?P<rules>\d+) candidates in (?P<seconds>[\d.]+) s: "
                  r"(?P<rate>[\d.]+) candidates/s \(device: (?P<device>[^;]+);", re.M)


def run_check(*args, command=("bash", "benchmarks/gpu_check.sh"), timeout=240):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in ("OUT", "KERAS_NOS_CIFAR10", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def measured(out, task):
    lines = {match["task"]: match for match in LINE.finditer(out)}
    assert task in lines, out
    return lines[task]


def test_the_device_check_measures_the_default_task_on_the_cpu(tmp_path):
    done = run_check("--tiny", "--tasks", "digits-autoencoder", "--no-wrn", "--out", str(tmp_path))
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    line = measured(out, "digits-autoencoder")
    assert int(line["rules"]) == 8 and float(line["rate"]) > 0 and line["device"].startswith("cpu")
    assert "devices: jax" in out and "JAX sees no GPU" in out
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    figures = summary["throughput"][0]
    assert figures["task"] == "digits-autoencoder" and figures["epochs"] == 1
    for batch in ("first", "second", "again"):
        assert figures[batch]["rules"] == 8 and figures[batch]["rate"] > 0
        assert sum(figures[batch]["statuses"].values()) == 8
    assert figures["second"]["copies"] >= 8  # every rule trained at one learning rate or more
    assert summary["failed"] == [] and summary["wrn"] is None
    assert "| digits-autoencoder (tiny) | 8 | 1 | 8 |" in (tmp_path / "gpu_check.md").read_text()
    assert (tmp_path / "logs" / "throughput-digits-autoencoder-8.log").exists()
    page = tmp_path / "gpu-check.md"  # a summary brought back from a device becomes the results page's block
    page.write_text("# Page\n\n<!-- gpu-check: begin (benchmarks/gpu_check.py writes this block) -->\nnone yet\n"
                    "<!-- gpu-check: end -->\n\nProse.\n")
    done = run_check("--from-summary", str(tmp_path / "gpu_check.json"), "--doc", str(page),
                     command=(sys.executable, "benchmarks/gpu_check.py"), timeout=60)
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "none yet" not in text and text.endswith("Prose.\n") and line.group(0) in text


def test_a_part_out_of_time_is_reported_and_the_check_exits_non_zero(tmp_path):
    done = run_check("--tiny", "--budget", "1", "--out", str(tmp_path),
                     command=(sys.executable, "benchmarks/gpu_check.py"), timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "devices: FAILED: skipped:" in done.stdout
    assert "part(s) failed" in done.stdout
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["throughput"] == [] and summary["failed"][0]["part"] == "devices"


@pytest.mark.skipif(not SHARED_JPEGS.is_file(), reason=f"shared CIFAR-10 copy {SHARED_JPEGS} is absent")
def test_the_device_check_on_cifar10_and_the_reduced_wrn_on_the_cpu(tmp_path):
    done = run_check("--tiny", "--tasks", "cifar10-convnet", "--data", str(SHARED_JPEGS), "--out", str(tmp_path),
                     command=(sys.executable, "benchmarks/gpu_check.py"))
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    line = measured(out, "cifar10-convnet")
    assert int(line["rules"]) == 2 and float(line["rate"]) > 0
    wrn = re.search(r"^wrn: python examples/wrn_cifar10.py .*--depth 10 --width 1 .*: [\d.]+ s on Keras tensorflow; "
                    r"momentum at lr 0.05: final test accuracy [\d.]+", out, re.M)
    assert wrn, out
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["wrn"]["results"]["rows"][0]["optimizer"] == "momentum"
    assert "| `momentum` | 0.05 |" in (tmp_path / "gpu_check.md").read_text()
    assert (tmp_path / "wrn" / "table.md").exists()
