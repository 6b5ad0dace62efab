"""Helpers for TF1-style (tf.compat.v1) between-graph training on a tfflink cluster.

A non-chief ``MonitoredTrainingSession`` checks whether the chief has initialised the
variables and, if not, sleeps 30 s before checking again (TF's SessionManager default), so a
worker that starts a moment before the chief idles for half a minute, after every restart too.
Waiting here first lets it start as soon as the variables are ready.
"""

from __future__ import annotations

import time
from typing import Any


def wait_until_initialized(target: str, config: Any = None, poll: float = 0.2, timeout: float = 600.0) -> None:
    """Block until every global variable of the default graph is initialised on ``target``."""
    import tensorflow as tf  # only inside TF node processes

    tf1 = tf.compat.v1
    pending = tf1.report_uninitialized_variables()
    deadline = time.monotonic() + timeout
    with tf1.Session(target, config=config) as sess:
        while len(sess.run(pending)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"variables still uninitialised after {timeout:.0f}s (is the chief running?)")
            time.sleep(poll)
