"""Writes users.csv and events.csv: 4000 users and one event each, joined on ``id``.

The ids are above 2^53 (a float64 cannot hold them), so a job that keeps them exact from the
CSV to TensorFlow can be checked. Deterministic: ``python make_data.py`` rewrites the same files.
"""

import random
from pathlib import Path

ROWS = 4000
BASE_ID = 2**60
HERE = Path(__file__).parent


def main() -> None:
    rng = random.Random(7)
    users = [(BASE_ID + n, *(round(rng.uniform(-1, 1), 6) for _ in range(3))) for n in range(ROWS)]
    events = [(BASE_ID + n, *(round(rng.uniform(-1, 1), 6) for _ in range(3))) for n in range(ROWS)]
    rng.shuffle(events)  # the join pairs rows that arrive in different orders
    for name, header, rows in (
        ("users.csv", "id,age,score,tenure", users),
        ("events.csv", "id,price,qty,discount", events),
    ):
        lines = [header] + [",".join(str(v) for v in r) for r in rows]
        (HERE / name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
