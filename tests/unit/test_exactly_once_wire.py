"""The TF node's side of the JVM feeder's replay handshake (docs/dataplane.md, "Exactly-once
input"), against a stand-in feeder on a real Unix socket: the hello, the checkpoint to restore,
a checkpoint requested exactly between the batch that ends it and the next, and the acks."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

from tests.support.closing import close_after_test
from tests.support.jobs import REPO
from tfflink.runtime.cluster.bridge import BridgeClient, _FrameReader, column_batches

ROWS = bytes.fromhex((REPO / "tests" / "data" / "typed_frame.hex").read_text().strip())  # 3 rows
COLUMNS = [("id", "int64"), ("x", "float32"), ("d", "float64"), ("n", "int32"), ("s", "string")]


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<Ic", len(payload), kind) + payload


def i64(kind: bytes, value: int) -> bytes:
    return frame(kind, struct.pack("<q", value))


def connected(tmp: Path, hello: bool) -> tuple[BridgeClient, socket.socket]:
    path = str(tmp / "worker-0.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    box: list[BridgeClient] = []
    t = threading.Thread(target=lambda: box.append(BridgeClient(path, hello=hello)))
    t.start()
    conn, _ = srv.accept()
    t.join()
    srv.close()
    close_after_test(box[0].sock)
    close_after_test(conn)
    return box[0], conn


def received(conn: socket.socket, count: int) -> list[tuple[bytes, object]]:
    reader, out = _FrameReader(), []
    while len(out) < count:
        out += reader.feed(conn.recv(4096))
    return out


def test_an_exactly_once_node_restores_the_named_checkpoint_and_saves_after_its_last_batch(tmp_path: Path) -> None:
    client, feeder = connected(tmp_path, hello=True)
    assert received(feeder, 1) == [(b"H", 1)]
    feeder.sendall(i64(b"S", 3) + ROWS + i64(b"K", 4) + ROWS + ROWS + frame(b"E"))
    assert client.checkpoint_to_restore() == 3
    seen = [(len(b["id"]), client.requested) for b in column_batches(client, COLUMNS, batch_size=2)]
    # 9 rows in batches of 2; checkpoint 4 comes after row 6 and only right after that batch.
    assert seen == [(2, None), (2, None), (2, 4), (2, None), (1, None)]
    client.saved(4)
    assert received(feeder, 1) == [(b"A", 4)]  # no acks per batch: only saved checkpoints


def test_an_at_least_once_node_acknowledges_each_batch_it_takes(tmp_path: Path) -> None:
    client, feeder = connected(tmp_path, hello=False)
    assert received(feeder, 1) == [(b"H", 0)]
    feeder.sendall(i64(b"S", 0) + ROWS + i64(b"K", 1) + ROWS + frame(b"E"))
    seen = [(len(b["id"]), client.requested) for b in column_batches(client, COLUMNS, batch_size=3)]
    assert seen == [(3, None), (3, None)]  # checkpoints are not this node's business
    assert received(feeder, 2) == [(b"A", 1), (b"A", 2)]
    done = threading.Thread(target=client.done)
    done.start()
    head = feeder.recv(5)
    assert head == struct.pack("<Ic", 8, b"D")  # D says how many batches this node took
    assert struct.unpack("<q", feeder.recv(8)) == (2,)
    feeder.close()
    done.join()
