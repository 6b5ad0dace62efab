"""The feature step of the stream example: joined (user, event) rows -> training samples.

``build_batch`` is what the job uses (``process.batch: true``): it runs inside each TF worker
on numpy columns, one call per batch. ``build`` is the same step per row, for the Python data
plane (``dataPlane: python``), where Flink calls it once for every row.
"""

import numpy as np

W = [0.5, -1.0, 2.0, 0.25, 1.5, -0.5]
X = ["age", "score", "tenure", "price", "qty", "discount"]


def build_batch(cols):
    x = np.stack([cols[c] for c in X], axis=1)
    label = x @ np.array(W, dtype=x.dtype) + 0.3
    return {"id": cols["id"], **{f"f{i}": x[:, i] for i in range(len(X))}, "label": label}


def build(row):
    x = [row[c] for c in X]
    label = sum(w * v for w, v in zip(W, x, strict=True)) + 0.3
    return {"id": row["id"], **{f"f{i}": v for i, v in enumerate(x)}, "label": label}
