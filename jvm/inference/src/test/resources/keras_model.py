"""Writes Keras SavedModels and the Python side's result lines for KerasCompatTest.

usage: keras_model.py OUT_DIR REPO_OPERATOR_DIR
OUT_DIR/export: keras Model.export(); OUT_DIR/saved: tf.saved_model.save(model);
OUT_DIR/rows.csv: id,name,a,b,c; OUT_DIR/<model>.<fmt>: tfflink's ModelScorer + format_record.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
out, operator_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, operator_dir)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfflink.runtime.flink.inference import ModelScorer  # noqa: E402
from tfflink.runtime.flink.sinks import format_record  # noqa: E402
from tfflink.spec.io import Column, SavedModelSpec  # noqa: E402

inp = keras.Input(shape=(3,), name="x")
h = keras.layers.Dense(4, activation="relu")(inp)
y = keras.layers.Dense(1, name="y")(h)
model = keras.Model(inp, y)
rng = np.random.default_rng(7)
model.set_weights(
    [
        w.astype(np.float32)
        for w in (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 1)), rng.normal(size=1))
    ]
)
model.export(os.path.join(out, "export"))
tf.saved_model.save(model, os.path.join(out, "saved"))

rows = []
with open(os.path.join(out, "rows.csv"), "w") as f:
    for i in range(20):
        vals = [round(float(v), 3) for v in rng.normal(size=3)]
        f.write(",".join([str(i), f"n{i}é", *map(str, vals)]) + "\n")
        rows.append({"id": i, "name": f"n{i}é", "a": vals[0], "b": vals[1], "c": vals[2]})

columns = [
    Column.model_validate({"name": n, "type": t})
    for n, t in [("id", "int64"), ("name", "string"), ("a", "float32"), ("b", "float32"), ("c", "float32")]
]
for name in ("export", "saved"):
    spec = SavedModelSpec(path=os.path.join(out, name), signature="serving_default")
    scorer = ModelScorer(spec, spec.path, columns, ["id", "name"])
    recs = scorer.score(rows)
    for fmt in ("jsonl", "csv"):
        with open(os.path.join(out, f"{name}.{fmt}"), "w") as f:
            f.writelines(format_record(r, fmt) + "\n" for r in recs)
print("ok")
