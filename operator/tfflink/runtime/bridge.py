"""The Flink <-> TF data bridge: batched, framed records over a Unix socket.

Why this transport: PyFlink's per-record Python functions cap the row rate at tens of
thousands a second (DESIGN.md), so the bridge only has to stay far above that. Batches of
rows pickled into length-prefixed frames cost one syscall per batch, and a socket gives
backpressure (a full buffer blocks the sender), end-of-input (a frame), child death (EOF)
and both directions at once, which a shared-memory ring would have to rebuild by hand.

Operator side (:class:`BridgeServer`, in the Flink worker subtask): ``put`` rows, ``end``
input, ``take`` results. It never blocks on a full socket without also reading results,
so TF writing results while input still arrives cannot deadlock; a consumer that died is
waited for (a restarted TF node reconnects) only while ``alive()`` says the node agent
runs; a consumer that said it is done makes later rows be dropped and counted.

TF side (:class:`BridgeClient`, in the TF node process): a reader thread fills a bounded
queue (so the socket, and then Flink, back up when TF reads slowly); ``dataset()`` wraps
it as a ``tf.data.Dataset`` of typed columns that ends cleanly at end-of-input.
"""

from __future__ import annotations

import os
import pickle
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

ROWS, END, OUT, DONE = b"R", b"E", b"O", b"D"
HEADER = struct.Struct("<Ic")
BATCH_ROWS = 256
QUEUE_BATCHES = 8


def _frame(kind: bytes, payload: Any = None) -> bytes:
    data = b"" if payload is None else pickle.dumps(payload, protocol=5)
    return HEADER.pack(len(data), kind) + data


class _FrameReader:
    """Incremental frame decoding from a byte stream."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, Any]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            n, kind = HEADER.unpack_from(self.buf)
            if len(self.buf) < HEADER.size + n:
                break
            body = bytes(self.buf[HEADER.size : HEADER.size + n])
            del self.buf[: HEADER.size + n]
            out.append((kind, pickle.loads(body) if body else None))
        return out


class BridgeServer:
    """The Flink operator's end: rows in, results out, one consumer connection at a time."""

    def __init__(self, path: str, alive: Callable[[], bool], batch_rows: int = BATCH_ROWS) -> None:
        self.path, self.alive, self.batch_rows = path, alive, batch_rows
        if os.path.exists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.conn: socket.socket | None = None
        self.reader = _FrameReader()
        self.pending: list[Any] = []
        self.results: list[Any] = []
        self.done = False  # the consumer wants no more input
        self.ended = False
        self.sent_rows = 0
        self.dropped_rows = 0

    # -- operator API ---------------------------------------------------------------------

    def put(self, row: Any) -> None:
        """Queue one row; a full batch is sent (blocking while the consumer is behind)."""
        self.pending.append(row)
        if len(self.pending) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            if self._send(_frame(ROWS, batch)):
                self.sent_rows += len(batch)
            else:
                self.dropped_rows += len(batch)

    def take(self) -> list[Any]:
        """Results written by TF so far (non-blocking)."""
        self._pump(0)
        out, self.results = self.results, []
        return out

    def end(self, timeout: float | None = None) -> list[Any]:
        """Signal end of input; wait until the consumer is done (or gone for good)."""
        self.flush()
        self.ended = True
        self._send(_frame(END))
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done and self.alive() and (deadline is None or time.monotonic() < deadline):
            if self.conn is None:
                self._accept(0.2)
            else:
                self._pump(0.2)
        return self.take()

    def close(self) -> None:
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    # -- internals --------------------------------------------------------------------------

    def _accept(self, wait: float) -> bool:
        r, _, _ = select.select([self.listener], [], [], wait)
        if not r:
            return False
        conn, _ = self.listener.accept()
        conn.setblocking(False)
        self.conn, self.reader, self.done = conn, _FrameReader(), False
        if self.ended:  # a restarted consumer of a finished input: tell it at once
            self._send(_frame(END))
        return True

    def _drop(self) -> None:
        assert self.conn is not None
        self.conn.close()
        self.conn = None

    def _on_readable(self) -> None:
        assert self.conn is not None
        try:
            data = self.conn.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the consumer exited: a restart reconnects, a finished one said DONE
            self._drop()
            return
        for kind, payload in self.reader.feed(data):
            if kind == OUT:
                self.results.extend(payload)
            elif kind == DONE:  # closing tells the consumer we saw it (it drains until EOF)
                self.done = True
                self._drop()
                return

    def _pump(self, wait: float) -> None:
        if self.conn is None:
            return
        r, _, _ = select.select([self.conn], [], [], wait)
        if r:
            self._on_readable()

    def _send(self, data: bytes) -> bool:
        """Send one frame, reading results meanwhile; False if no consumer will take it."""
        view = memoryview(data)
        while view:
            if self.done:
                return False
            if self.conn is None:
                if not self.alive():
                    self.done = True
                    return False
                self._accept(0.2)
                view = memoryview(data)  # a new consumer gets the whole frame
                continue
            r, w, _ = select.select([self.conn], [self.conn], [], 0.5)
            if r:
                self._on_readable()
                if self.conn is None:
                    continue
            if w:
                try:
                    n = self.conn.send(view)
                    view = view[n:]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._drop()
        return True


class BridgeClient:
    """The TF node's end: typed batches of rows in, results out."""

    def __init__(self, path: str, connect_timeout: float = 30.0) -> None:
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.batches: queue.Queue[list[Any] | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.lock = threading.Lock()
        self.rows_read = 0
        self.closing = threading.Event()
        self.eof = threading.Event()
        threading.Thread(target=self._read, daemon=True, name="bridge-reader").start()

    def _read(self) -> None:
        reader = _FrameReader()
        ended = False
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                self._put(None)
                self.eof.set()
                return
            for kind, payload in reader.feed(data):
                if self.closing.is_set() or ended:
                    continue  # after DONE: drain until the operator closes, so it sees DONE
                if kind == ROWS:
                    self._put(payload)  # blocks when TF is behind: backpressure
                elif kind == END:
                    self._put(None)
                    ended = True

    def _put(self, item: list[Any] | None) -> None:
        while not self.closing.is_set():
            try:
                self.batches.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def batches_iter(self) -> Iterator[list[Any]]:
        """Raw row batches (tuples in column order) until end of input."""
        while True:
            batch = self.batches.get()
            if batch is None:
                self.batches.put(None)  # a second reader ends too
                return
            self.rows_read += len(batch)
            yield batch

    def write(self, rows: list[Any]) -> None:
        """Send results (dicts) back into the Flink stream."""
        if rows:
            with self.lock:
                self.sock.sendall(_frame(OUT, list(rows)))

    def done(self) -> None:
        """No more input wanted and no more results: the operator stops waiting."""
        self.closing.set()
        with self.lock:
            try:
                self.sock.sendall(_frame(DONE))
            except OSError:
                return
        self.eof.wait(30)  # the operator closes once it read DONE; unread rows are drained
        self.sock.close()


NUMPY_TYPES = {"float32": "float32", "float64": "float64", "int32": "int32", "int64": "int64", "string": "object"}


def column_batches(client: BridgeClient, columns: list[tuple[str, str]], batch_size: int) -> Iterator[dict[str, Any]]:
    """Dicts of numpy columns of ``batch_size`` rows (the last one shorter) until end of input."""
    import numpy as np  # noqa: PLC0415

    names = [n for n, _ in columns]
    numeric = [i for i, (_, t) in enumerate(columns) if t != "string"]
    strings = [i for i, (_, t) in enumerate(columns) if t == "string"]
    parts: list[dict[str, Any]] = []
    have = 0
    for batch in client.batches_iter():
        cols: dict[str, Any] = {}
        if numeric:
            arr = np.array([[r[i] for i in numeric] for r in batch], dtype=np.float64)
            for j, i in enumerate(numeric):
                cols[names[i]] = arr[:, j].astype(NUMPY_TYPES[columns[i][1]])
        for i in strings:
            cols[names[i]] = np.array([str(r[i]).encode() for r in batch], dtype=object)
        parts.append(cols)
        have += len(batch)
        while have >= batch_size:
            merged = {n: np.concatenate([p[n] for p in parts]) for n in names}
            yield {n: v[:batch_size] for n, v in merged.items()}
            rest = {n: v[batch_size:] for n, v in merged.items()}
            have -= batch_size
            parts = [rest] if have else []
    if have:
        yield {n: np.concatenate([p[n] for p in parts]) for n in names}
