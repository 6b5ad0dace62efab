"""The data bridge over a real Unix socket, both ends in this process (threads stand in for
the Flink operator and the TF node process)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support.closing import close_after_test
from tfflink.runtime.cluster.bridge import QUEUE_BATCHES, BridgeClient, BridgeServer, column_batches

pytestmark = pytest.mark.timeout(60)


def serve(tmp_path: Path, alive: threading.Event | None = None, batch: int = 16) -> BridgeServer:
    ev = alive or threading.Event()
    if alive is None:
        ev.set()
    return close_after_test(BridgeServer(str(tmp_path / "b.sock"), alive=ev.is_set, batch_rows=batch))


def consumer(path: str, fn) -> threading.Thread:
    t = threading.Thread(target=lambda: fn(BridgeClient(path)), daemon=True)
    t.start()
    return t


def test_rows_arrive_typed_in_batches_and_the_dataset_ends(tmp_path: Path) -> None:
    server = serve(tmp_path)
    got: list[dict] = []

    def read(c: BridgeClient) -> None:
        got.extend(column_batches(c, [("id", "int64"), ("x", "float32"), ("s", "string")], 10))
        c.done()

    t = consumer(server.path, read)
    for i in range(25):
        server.put((i, i / 2, f"r{i}"))
    server.end(timeout=10)
    t.join(5)
    assert [len(b["id"]) for b in got] == [10, 10, 5]
    assert [int(v) for b in got for v in b["id"]] == list(range(25))
    assert got[0]["x"].dtype.name == "float32" and got[2]["s"][4] == b"r24"


def test_slow_reader_blocks_the_writer_with_bounded_buffering(tmp_path: Path) -> None:
    server = serve(tmp_path, batch=100)
    release = threading.Event()

    def read(c: BridgeClient) -> None:
        release.wait()
        for _ in c.batches_iter():
            pass
        c.done()

    t = consumer(server.path, read)
    sent = threading.Event()

    def produce() -> None:
        for i in range(200_000):
            server.put((i, float(i)))
        sent.set()

    threading.Thread(target=produce, daemon=True).start()
    time.sleep(2)
    # The consumer reads nothing: only the socket buffers and its queue hold rows.
    assert not sent.is_set(), "the writer must block while the reader does not read"
    assert server.sent_rows < 200_000 and len(server.pending) <= 100
    release.set()
    assert sent.wait(20)
    server.end(timeout=10)
    t.join(5)
    assert server.sent_rows == 200_000 and QUEUE_BATCHES < 200_000 // 100


def test_results_flow_back_while_input_still_arrives_no_deadlock(tmp_path: Path) -> None:
    server = serve(tmp_path, batch=50)

    def echo(c: BridgeClient) -> None:  # writes a big result for every batch before reading on
        for batch in c.batches_iter():
            c.write([{"id": r[0], "pad": "x" * 2000} for r in batch])
        c.done()

    t = consumer(server.path, echo)
    results: list[dict] = []
    for i in range(20_000):
        server.put((i,))
        if i % 500 == 0:
            results += server.take()
    results += server.end(timeout=20)
    t.join(5)
    assert sorted(r["id"] for r in results) == list(range(20_000))


def test_reader_that_stops_early_makes_later_rows_drop(tmp_path: Path) -> None:
    server = serve(tmp_path, batch=10)

    def first_batch_only(c: BridgeClient) -> None:
        next(iter(c.batches_iter()))
        c.done()

    consumer(server.path, first_batch_only)
    for i in range(100_000):
        server.put((i,))
    server.end(timeout=5)
    assert server.done and server.dropped_rows > 0
    assert server.sent_rows + server.dropped_rows == 100_000


def test_a_restarted_reader_reconnects_and_a_dead_node_unblocks_the_writer(tmp_path: Path) -> None:
    alive = threading.Event()
    alive.set()
    server = serve(tmp_path, alive=alive, batch=10)

    def crash(c: BridgeClient) -> None:
        next(iter(c.batches_iter()))
        c.sock.close()  # dies without DONE: a TF node failure

    consumer(server.path, crash)
    seen: list[int] = []

    def restarted() -> None:
        time.sleep(0.5)
        c = BridgeClient(server.path)
        for b in c.batches_iter():
            seen.extend(r[0] for r in b)
        c.done()

    reader = threading.Thread(target=restarted, daemon=True)
    reader.start()
    for i in range(1000):  # ~1 MB: more than the socket buffers, so the crash is noticed mid-stream
        server.put((i, "x" * 1000))
    server.end(timeout=10)
    reader.join(10)  # end() returns once the rows are sent; the reader may still be reading them
    assert seen and seen[-1] == 999, "the restarted reader gets the rest and the end"

    # A node agent that is gone (no restart coming) must not leave the operator blocked.
    server2 = close_after_test(BridgeServer(str(tmp_path / "c.sock"), alive=lambda: False, batch_rows=10))
    t0 = time.monotonic()
    for i in range(100):
        server2.put((i,))
    server2.end()
    assert time.monotonic() - t0 < 5 and server2.dropped_rows == 100
