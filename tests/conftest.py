"""Shared test setup: quiet TensorFlow's C++ logging before any test imports it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


import pytest  # noqa: E402  (after TensorFlow's log level is set)

from mlflow_server import MlflowServer  # noqa: E402


@pytest.fixture
def mlflow_server(tmp_path):
    """A started `mlflow server` (``.uri``, ``.kill()``, ``.start()``), killed after the test."""
    served = MlflowServer(tmp_path)
    served.start()
    yield served
    if served.process.poll() is None:
        served.kill()
