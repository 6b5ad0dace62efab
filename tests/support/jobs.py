"""Job documents for tests: a local ``tfflink run`` job, a TFFlinkJob as the API server stores
it, an example copied into a test's directory, and a SavedModel to score."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
API_VERSION = "tfflink.dev/v1alpha1"


def job_doc(**spec: Any) -> dict[str, Any]:
    """A valid local TFFlinkJob document (entry fn.py:map_func, one worker, no ps); keyword
    arguments replace spec fields."""
    base: dict[str, Any] = {
        "entry": {"file": "fn.py", "function": "map_func"},
        "roles": {"worker": {"replicas": 1}, "ps": {"replicas": 0}},
    }
    base.update(spec)
    return {"apiVersion": API_VERSION, "kind": "TFFlinkJob", "metadata": {"name": "t"}, "spec": base}


def k8s_job(
    name: str, workers: int = 2, ps: int = 1, *, namespace: str | None = None, uid: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A TFFlinkJob for the cluster (camelCase, the linear example's module as entry); keyword
    arguments add spec fields. ``namespace``/``uid`` as the API server fills them in."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if uid is not None:
        metadata["uid"] = uid
    return {
        "apiVersion": API_VERSION,
        "kind": "TFFlinkJob",
        "metadata": metadata,
        "spec": {
            "entry": {"module": "examples.linear.train"},
            "roles": {"worker": {"replicas": workers}, "ps": {"replicas": ps}},
            **spec,
        },
    }


def copy_example(name: str, dest: Path, **overrides: Any) -> Path:
    """Copy examples/<name> into ``dest``, set checkpointDir there and apply spec overrides
    (a mapping is merged into the example's mapping, anything else replaces it)."""
    shutil.copytree(REPO / "examples" / name, dest, dirs_exist_ok=True)
    path = dest / "job.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["checkpointDir"] = str(dest / "ckpt")
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc["spec"].get(key), dict):
            doc["spec"][key].update(value)
        else:
            doc["spec"][key] = value
    path.write_text(yaml.safe_dump(doc))
    return path


# A Python program (``python -c MAKE_MODEL.format(f=FEATURES) DIR``) that saves a linear
# SavedModel over f features (w = 0.1, 0.2, ..., b = 0.25) with a serving_default signature.
MAKE_MODEL = """
import sys, numpy as np, tensorflow as tf
class Linear(tf.Module):
    def __init__(self):
        self.w = tf.Variable(np.arange(1, {f} + 1, dtype=np.float32).reshape({f}, 1) / 10)
        self.b = tf.Variable([0.25])
    @tf.function(input_signature=[tf.TensorSpec([None, {f}], tf.float32, name="x")])
    def serve(self, x):
        return {{"prediction": tf.squeeze(tf.matmul(x, self.w) + self.b, axis=1)}}
m = Linear()
tf.saved_model.save(m, sys.argv[1], signatures={{"serving_default": m.serve}})
"""
