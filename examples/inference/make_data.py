"""Write rows.csv (id, f0..f9) for the inference example: ``python make_data.py [rows]``."""

import sys

import numpy as np

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
x = np.random.default_rng(7).normal(size=(rows, 10)).astype(np.float32)
with open("rows.csv", "w") as f:
    f.write("id," + ",".join(f"f{i}" for i in range(10)) + "\n")
    for i, r in enumerate(x):
        f.write(f"{i}," + ",".join(f"{v:.6f}" for v in r) + "\n")
