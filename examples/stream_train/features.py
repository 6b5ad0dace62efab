"""The feature step of the stream example: a joined (user, event) row -> one training sample."""

W = [0.5, -1.0, 2.0, 0.25, 1.5, -0.5]


def build(row):
    x = [row["age"], row["score"], row["tenure"], row["price"], row["qty"], row["discount"]]
    label = sum(w * v for w, v in zip(W, x, strict=True)) + 0.3
    return {"id": row["id"], **{f"f{i}": v for i, v in enumerate(x)}, "label": label}
