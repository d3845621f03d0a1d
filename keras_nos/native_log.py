"""Keep TensorFlow's C++ start-up chatter out of command-line output.

TensorFlow 2.21 writes absl lines ("oneDNN custom operations are on", "Could
not find cuda drivers") to file descriptor 2 on import, whatever
``TF_CPP_MIN_LOG_LEVEL`` says. A command whose errors are one line on stderr
imports Keras inside ``quiet_native_stderr()``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send fd 2 to a temporary file while the block runs; replay it if the block raises,
    so a failed import still shows everything the native code said."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
