"""The Flink <-> TF data bridge: batched, framed records over a Unix socket.

Why this transport: PyFlink's per-record Python functions cap the row rate at tens of
thousands a second (DESIGN.md), so the bridge only has to stay far above that. Batches of
rows in length-prefixed frames cost one syscall per batch, and a socket gives backpressure
(a full buffer blocks the sender), end-of-input (a frame), child death (EOF) and both
directions at once, which a shared-memory ring would have to rebuild by hand.

Operator side (:class:`BridgeServer`, in the Flink worker subtask): ``put`` rows, ``end``
input, ``take`` results. It never blocks on a full socket without also reading results,
so TF writing results while input still arrives cannot deadlock; a consumer that died is
waited for (a restarted TF node reconnects) only while ``alive()`` says the node agent
runs; a consumer that said it is done makes later rows be dropped and counted.

TF side (:class:`BridgeClient`, in the TF node process): a reader thread fills a bounded
queue (so the socket, and then Flink, back up when TF reads slowly); ``dataset()`` wraps
it as a ``tf.data.Dataset`` of typed columns that ends cleanly at end-of-input. A reader
thread that fails (a broken frame, the operator gone before end of input) makes the
reading side raise :class:`BridgeError`: the node fails and restarts instead of hanging.

Security: the socket lives in a private 0700 directory (:func:`private_socket_path`), both
ends check the peer's uid (``SO_PEERCRED``), and nothing on the wire is unpickled: frames
are typed (:func:`encode_rows`: int64/float64 arrays, JSON for strings and anything else;
results as JSON objects) and at most ``MAX_FRAME`` bytes; anything else ends the connection.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import shutil
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

from ...errors import TemporaryFailure

log = logging.getLogger(__name__)

ROWS, END, OUT, DONE = b"R", b"E", b"O", b"D"
# The JVM feeder's replay handshake (docs/dataplane.md, "Exactly-once input"): the node's hello,
# the checkpoint to restore, a checkpoint barrier, and the node's acknowledgement.
HELLO, START, CHECKPOINT, ACK = b"H", b"S", b"K", b"A"
KINDS = (ROWS, END, OUT, DONE, HELLO, START, CHECKPOINT, ACK)
_I64 = struct.Struct("<q")
HEADER = struct.Struct("<Ic")
BATCH_ROWS = 256
QUEUE_BATCHES = 8
MAX_FRAME = 16 << 20  # bytes of one frame's payload; a longer header ends the connection
MAX_COLUMNS = 1 << 14

# A row batch: ``<IIc`` (rows, columns, layout). Layout ``d``/``q``: every value a float64 /
# int64, row-major; layout ``C``: per column a tag (``d``, ``q``, ``j`` for JSON) and its bytes;
# layout ``T`` (what the JVM data plane writes, docs/dataplane.md): per column a tag (``f``,
# ``d``, ``i``, ``q``, ``s``) and its little-endian bytes, decoded straight into numpy arrays.
_COLS = struct.Struct("<IIc")
_COL = struct.Struct("<cI")
INT64, FLOAT64, JSON, COLUMNS, TYPED = b"q", b"d", b"j", b"C", b"T"
_TYPED_DTYPES = {b"f": "<f4", b"d": "<f8", b"i": "<i4", b"q": "<i8"}
STRING = b"s"
_NATIVE = sys.byteorder == "little"


class BridgeError(TemporaryFailure, RuntimeError):
    """The data channel broke: a malformed or oversized frame, or the other end vanished; the
    node fails and a restart reconnects."""


class BridgeProtocolError(BridgeError):
    """A frame that is not the bridge's typed framing (or over ``MAX_FRAME``)."""


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays as Python values; bytes as text; anything else is refused."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"the bridge carries numbers, strings, booleans, None, lists and dicts, not {type(value).__name__}")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _loads(data: bytes) -> Any:
    return json.loads(data.decode("utf-8", "surrogatepass"))


def _encode_column(col: tuple[Any, ...]) -> tuple[bytes, bytes]:
    kinds = set(map(type, col))
    if kinds == {float}:
        a = array("d", col)
    elif kinds == {int}:
        try:
            a = array("q", col)  # exact int64; larger ints go as JSON (still exact)
        except OverflowError:
            return JSON, _dumps(col)
    else:
        return JSON, _dumps(col)
    if not _NATIVE:
        a.byteswap()
    return (FLOAT64 if a.typecode == "d" else INT64), a.tobytes()


def encode_rows(rows: list[Any]) -> bytes:
    """A batch of equal-length rows (tuples or lists) as typed columns."""
    if not rows:
        return _COLS.pack(0, 0, COLUMNS)
    width = len(rows[0])
    if not width or any(len(r) != width for r in rows):
        raise ValueError("every row of a batch must have the same (non-zero) number of values")
    kinds = set(map(type, chain.from_iterable(rows)))
    if kinds == {float} or kinds == {int}:  # the common case: one block, no transposing
        try:
            a = array("d" if kinds == {float} else "q", chain.from_iterable(rows))
        except OverflowError:
            pass  # an int beyond int64: per column below (JSON keeps it exact)
        else:
            if not _NATIVE:
                a.byteswap()
            return _COLS.pack(len(rows), width, a.typecode.encode()) + a.tobytes()
    parts = [_COLS.pack(len(rows), width, COLUMNS)]
    for col in zip(*rows, strict=True):
        tag, data = _encode_column(col)
        parts += [_COL.pack(tag, len(data)), data]
    return b"".join(parts)


class TypedColumns(list[Any]):
    """One ``T`` row batch: numpy arrays in column order (no per-row Python objects)."""

    checkpoint = 0  # the checkpoint this batch is the last one before (a K frame preceded it)

    @property
    def rows(self) -> int:
        return len(self[0]) if self else 0


def decode_typed(data: bytes | memoryview) -> TypedColumns:
    """A layout-``T`` batch as numpy columns; BridgeProtocolError for anything malformed."""
    import numpy as np  # TF side only: the Flink operator side never loads numpy

    try:
        n, width, layout = _COLS.unpack_from(data)
        if layout != TYPED or width == 0 or width > MAX_COLUMNS:
            raise BridgeProtocolError(f"typed batch: layout {layout!r} with {width} columns")
        view, pos, cols = memoryview(data), _COLS.size, TypedColumns()
        for _ in range(width):
            tag, size = _COL.unpack_from(view, pos)
            pos += _COL.size
            if pos + size > len(view):
                raise BridgeProtocolError("typed batch: column runs past the frame")
            chunk = view[pos : pos + size]
            pos += size
            if tag in _TYPED_DTYPES:
                dtype = np.dtype(_TYPED_DTYPES[tag])
                if size != n * dtype.itemsize:
                    raise BridgeProtocolError("typed batch: column length does not match the row count")
                cols.append(np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="), copy=True))
            elif tag == STRING:
                cols.append(_decode_strings(chunk, n))
            else:
                raise BridgeProtocolError(f"typed batch: unknown column type {tag!r}")
        if pos != len(view):
            raise BridgeProtocolError("typed batch: trailing bytes")
    except BridgeProtocolError:
        raise
    except (struct.error, ValueError) as e:
        raise BridgeProtocolError(f"typed batch: {e}") from None
    return cols


def _decode_strings(chunk: memoryview, n: int) -> Any:
    """``n+1`` u32 offsets, then UTF-8 data: an object array of bytes (what tf.string takes)."""
    import numpy as np  # TF side only: the Flink operator side never loads numpy

    head = 4 * (n + 1)
    if len(chunk) < head:
        raise BridgeProtocolError("typed batch: string offsets run past the column")
    offsets = np.frombuffer(chunk[:head], dtype="<u4").astype(np.int64)
    data = bytes(chunk[head:])
    if offsets[0] != 0 or offsets[-1] != len(data) or bool(np.any(np.diff(offsets) < 0)):
        raise BridgeProtocolError("typed batch: string offsets out of order or past the data")
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = data[offsets[i] : offsets[i + 1]]
    return out


def decode_rows(data: bytes) -> list[tuple[Any, ...]]:
    """The rows :func:`encode_rows` wrote; BridgeProtocolError for anything malformed."""
    try:
        n, width, layout = _COLS.unpack_from(data)
        if width > MAX_COLUMNS or (width == 0 and n):
            raise BridgeProtocolError(f"row batch: {width} columns")
        if layout in (INT64, FLOAT64):
            a = array(layout.decode())
            if len(data) - _COLS.size != n * width * a.itemsize:
                raise BridgeProtocolError("row batch: size does not match rows x columns")
            a.frombytes(data[_COLS.size :])
            if not _NATIVE:
                a.byteswap()
            flat = iter(a.tolist())
            return list(zip(*[flat] * width, strict=True))
        if layout != COLUMNS:
            raise BridgeProtocolError(f"row batch: unknown layout {layout!r}")
        pos, cols = _COLS.size, []
        for _ in range(width):
            tag, size = _COL.unpack_from(data, pos)
            pos += _COL.size
            chunk = data[pos : pos + size]
            if len(chunk) != size:
                raise BridgeProtocolError("row batch: column runs past the frame")
            pos += size
            if tag in (INT64, FLOAT64):
                a = array(tag.decode())
                if size != n * a.itemsize:
                    raise BridgeProtocolError("row batch: column length does not match the row count")
                a.frombytes(chunk)
                if not _NATIVE:
                    a.byteswap()
                col: list[Any] = a.tolist()
            elif tag == JSON:
                col = _loads(chunk)
                if not isinstance(col, list) or len(col) != n:
                    raise BridgeProtocolError("row batch: JSON column is not a list of the row count")
            else:
                raise BridgeProtocolError(f"row batch: unknown column type {tag!r}")
            cols.append(col)
        if pos != len(data):
            raise BridgeProtocolError("row batch: trailing bytes")
    except BridgeProtocolError:
        raise
    except (struct.error, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BridgeProtocolError(f"row batch: {e}") from None
    return list(zip(*cols, strict=True))


def encode_results(rows: list[Any]) -> bytes:
    """Result rows (dicts) as a JSON array."""
    return _dumps(list(rows))


def decode_results(data: bytes) -> list[dict[str, Any]]:
    try:
        rows = _loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BridgeProtocolError(f"results: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BridgeProtocolError("results: must be a JSON array of objects")
    return rows


def _frame(kind: bytes, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_FRAME:
        raise BridgeError(f"a frame of {len(payload)} bytes is over the bridge's {MAX_FRAME}-byte limit")
    return HEADER.pack(len(payload), kind) + payload


def _frames(kind: bytes, rows: list[Any], encode: Callable[[list[Any]], bytes]) -> list[bytes]:
    """``rows`` as frames of ``kind``, split so each stays under ``MAX_FRAME``."""
    data = encode(rows)
    if len(data) <= MAX_FRAME:
        return [HEADER.pack(len(data), kind) + data]
    if len(rows) == 1:
        raise BridgeError(f"one row of {len(data)} bytes is over the bridge's {MAX_FRAME}-byte frame limit")
    half = len(rows) // 2
    return _frames(kind, rows[:half], encode) + _frames(kind, rows[half:], encode)


class _FrameReader:
    """Incremental frame decoding from a byte stream; BridgeProtocolError on a bad frame."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.buf = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[tuple[bytes, Any]]:
        self.buf += data
        out: list[tuple[bytes, Any]] = []
        while len(self.buf) >= HEADER.size:
            n, kind = HEADER.unpack_from(self.buf)
            if kind not in KINDS:
                raise BridgeProtocolError(f"unknown frame kind {kind!r}")
            if n > self.max_frame:
                raise BridgeProtocolError(f"frame of {n} bytes is over the {self.max_frame}-byte limit")
            if len(self.buf) < HEADER.size + n:
                break
            body = bytes(self.buf[HEADER.size : HEADER.size + n])
            del self.buf[: HEADER.size + n]
            if kind == ROWS:
                typed = len(body) >= _COLS.size and body[_COLS.size - 1 : _COLS.size] == TYPED
                out.append((kind, decode_typed(body) if typed else decode_rows(body)))
            elif kind == OUT:
                out.append((kind, decode_results(body)))
            elif kind in (START, CHECKPOINT, ACK):
                if len(body) != _I64.size:
                    raise BridgeProtocolError(f"frame {kind!r} of {len(body)} bytes, not {_I64.size}")
                out.append((kind, _I64.unpack(body)[0]))
            elif kind == HELLO:
                if len(body) != 1:
                    raise BridgeProtocolError(f"frame {kind!r} of {len(body)} bytes, not 1")
                out.append((kind, body[0]))
            elif body:
                raise BridgeProtocolError(f"frame {kind!r} carries no payload")
            else:
                out.append((kind, None))
        return out


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None where unknown)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i")))
    return int(uid)


def _same_user(sock: socket.socket) -> bool:
    uid = peer_uid(sock)
    return uid is None or uid == os.geteuid()


def private_socket_path(prefix: str = "tfflink-bridge-") -> str:
    """A socket path in a new directory only this user can enter (mode 0700)."""
    return os.path.join(tempfile.mkdtemp(prefix=prefix), "bridge.sock")


def check_private_dir(path: str) -> None:
    """Refuse a socket directory someone else owns or may write into (they could swap it)."""
    d = os.path.dirname(os.path.abspath(path))
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise BridgeError(
            f"bridge socket directory {d} must be a directory of this user that no one else can write "
            f"(mode {stat.S_IMODE(st.st_mode):o}, uid {st.st_uid}); use private_socket_path()"
        )


class BridgeServer:
    """The Flink operator's end: rows in, results out, one consumer connection at a time."""

    def __init__(
        self, path: str, alive: Callable[[], bool], batch_rows: int = BATCH_ROWS, *, own_dir: bool = False
    ) -> None:
        """Listen at ``path``, whose directory must be private (``own_dir``: remove it on close)."""
        self.path, self.alive, self.batch_rows, self.own_dir = path, alive, batch_rows, own_dir
        check_private_dir(path)
        if os.path.lexists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(4)
        self.refused = 0  # connections refused: another user, or a broken frame
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
            for frame in _frames(ROWS, batch, encode_rows):
                rows = _COLS.unpack_from(frame, HEADER.size)[0]
                if self._send(frame):
                    self.sent_rows += rows
                else:
                    self.dropped_rows += rows

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

    @classmethod
    def private(cls, alive: Callable[[], bool], batch_rows: int = BATCH_ROWS) -> BridgeServer:
        """A server on a fresh socket in its own 0700 directory (removed again on close)."""
        return cls(private_socket_path(), alive, batch_rows, own_dir=True)

    def close(self) -> None:
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()
        if os.path.lexists(self.path):
            os.unlink(self.path)
        if self.own_dir:
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)

    # -- internals --------------------------------------------------------------------------

    def _accept(self, wait: float) -> bool:
        r, _, _ = select.select([self.listener], [], [], wait)
        if not r:
            return False
        conn, _ = self.listener.accept()
        if not _same_user(conn):
            log.warning("bridge %s: refused a connection from uid %s", self.path, peer_uid(conn))
            self.refused += 1
            conn.close()
            return False
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
        try:
            frames = self.reader.feed(data)
        except BridgeProtocolError as e:  # not our client's framing: drop it (a restart reconnects)
            log.warning("bridge %s: dropped the consumer: %s", self.path, e)
            self.refused += 1
            self._drop()
            return
        for kind, payload in frames:
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
    """The TF node's end: typed batches of rows in, results out.

    ``hello`` (the JVM feeder only): True when this node restores and saves at the feeder's
    checkpoints (exactly-once), False when not (it acknowledges each batch as it takes it, so
    a restarted node gets every batch this one never took: at-least-once).
    """

    def __init__(self, path: str, connect_timeout: float = 30.0, hello: bool | None = None) -> None:
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
        if not _same_user(self.sock):
            self.sock.close()
            raise BridgeError(f"bridge {path}: the listening process belongs to another user")
        self.batches: queue.Queue[list[Any] | TypedColumns | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.lock = threading.Lock()
        self.rows_read = 0
        self.closing = threading.Event()
        self.eof = threading.Event()
        self.error: BaseException | None = None  # why the reader thread stopped early
        self.exactly_once = bool(hello)
        self.hello = hello  # None: the Python plane's server, which knows no handshake
        self.taken = 0  # batches handed to the user's loop
        self.requested: int | None = None  # the checkpoint due now (the last batch before it was just taken)
        self.restore_id = 0  # the checkpoint the feeder's S frame names (0: start afresh)
        self.started = threading.Event()
        if hello is None:
            self.started.set()
        else:
            self.sock.sendall(_frame(HELLO, b"\x01" if hello else b"\x00"))
        threading.Thread(target=self._read, daemon=True, name="bridge-reader").start()

    def _read(self) -> None:
        try:
            self._read_frames()
        except BaseException as e:  # noqa: BLE001  (surfaced to the reading side, never a silent hang)
            self.error = e if isinstance(e, BridgeError) else BridgeError(f"bridge reader failed: {e!r}")
        finally:
            self.eof.set()

    def _read_frames(self) -> None:
        reader = _FrameReader()
        ended = False
        barrier = 0
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                if not ended and not self.closing.is_set():
                    raise BridgeError("the Flink operator closed the data channel before the end of input")
                return
            for kind, payload in reader.feed(data):
                if self.closing.is_set() or ended:
                    continue  # after DONE: drain until the operator closes, so it sees DONE
                if kind == ROWS:
                    if barrier and isinstance(payload, TypedColumns):
                        payload.checkpoint, barrier = barrier, 0
                    self._put(payload)  # blocks when TF is behind: backpressure
                elif kind == END:
                    self._put(None)
                    ended = True
                elif kind == CHECKPOINT:
                    barrier = int(payload)
                elif kind == START and not self.started.is_set():
                    self.restore_id = int(payload)
                    self.started.set()
                else:
                    raise BridgeProtocolError(f"unexpected frame {kind!r} from the Flink operator")

    def _put(self, item: list[Any] | TypedColumns | None) -> None:
        while not self.closing.is_set():
            try:
                self.batches.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def batches_iter(self) -> Iterator[list[Any] | TypedColumns]:
        """Raw batches until end of input: lists of row tuples (the Python bridge) or
        :class:`TypedColumns` (the JVM feeder); BridgeError if the channel broke first (a
        broken frame, the operator gone): the node fails, never hangs."""
        while True:
            try:
                batch = self.batches.get(timeout=0.2)
            except queue.Empty:
                if self.error is not None:
                    raise self.error from None
                continue
            if batch is None:
                self.batches.put(None)  # a second reader ends too
                return
            self.rows_read += batch.rows if isinstance(batch, TypedColumns) else len(batch)
            self.taken += 1
            if self.hello is False:  # at-least-once: the feeder may forget what this node took
                self._send(_frame(ACK, _I64.pack(self.taken)))
            yield batch

    def checkpoint_to_restore(self) -> int:
        """The checkpoint id the feeder replays after (0: none); waits for its S frame."""
        while not self.started.wait(0.2):
            if self.error is not None:
                raise self.error
        return self.restore_id

    def saved(self, checkpoint_id: int) -> None:
        """Tell the feeder checkpoint ``checkpoint_id`` is written: it forgets the rows before it."""
        self._send(_frame(ACK, _I64.pack(checkpoint_id)))

    def _send(self, frame: bytes) -> None:
        with self.lock:
            self.sock.sendall(frame)

    def write(self, rows: list[Any]) -> None:
        """Send results back into the Flink stream: dicts of numbers, strings, booleans, None,
        lists and dicts (numpy values become Python ones); TypeError for anything else."""
        if rows:
            frames = _frames(OUT, list(rows), encode_results)
            with self.lock:
                for frame in frames:
                    self.sock.sendall(frame)

    def done(self) -> None:
        """No more input wanted and no more results: the operator stops waiting."""
        self.closing.set()
        # To the JVM feeder, D says how many batches this node took: the rest it never read
        # are counted as late there (docs/dataplane.md).
        taken = b"" if self.hello is None else _I64.pack(self.taken)
        with self.lock:
            try:
                self.sock.sendall(_frame(DONE, taken))
            except OSError:
                return
        self.eof.wait(30)  # the operator closes once it read DONE; unread rows are drained
        self.sock.close()


NUMPY_TYPES = {"float32": "float32", "float64": "float64", "int32": "int32", "int64": "int64", "string": "object"}

Columns = dict[str, Any]  # column name -> numpy array, all of one length
BatchFunction = Callable[[Columns], Columns]


def _typed_array(values: Any, typ: str) -> Any:
    """``values`` as a numpy array of the declared type: numbers straight to their dtype (int64
    stays exact), strings as an object array of UTF-8 bytes (what tf.string takes)."""
    import numpy as np  # TF side only: the Flink operator side never loads numpy

    if typ == "string":
        return np.array([v if isinstance(v, bytes) else str(v).encode() for v in values], dtype=object)
    return np.asarray(values, dtype=NUMPY_TYPES[typ])


def _as_columns(batch: list[Any] | TypedColumns, columns: list[tuple[str, str]]) -> Columns:
    """One wire batch as named numpy columns of the declared types."""
    if isinstance(batch, TypedColumns):
        if len(batch) != len(columns):
            raise BridgeError(f"a typed batch of {len(batch)} columns for {len(columns)} declared ones")
        return {n: a for (n, _), a in zip(columns, batch, strict=True)}
    return {
        name: _typed_array(values, typ) for (name, typ), values in zip(columns, zip(*batch, strict=True), strict=True)
    }


def typed_output(out: Any, columns: list[tuple[str, str]], where: str) -> Columns:
    """A batch function's result checked and cast to the declared columns (one length)."""
    if not isinstance(out, dict):
        raise TypeError(f"{where} must return a dict of columns, not {type(out).__name__}")
    missing = [n for n, _ in columns if n not in out]
    if missing:
        raise KeyError(f"{where} returned no column(s) {', '.join(missing)}")
    cols = {name: _typed_array(out[name], typ) for name, typ in columns}
    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise ValueError(f"{where} returned columns of different lengths {sorted(lengths)}")
    return cols


class Rebatcher:
    """Cuts a stream of column batches into batches of exactly ``size`` rows (the last one
    shorter); slices share memory with the incoming batches where one batch holds several."""

    def __init__(self, names: list[str], size: int) -> None:
        self.names, self.size = names, size
        self.parts: list[Columns] = []
        self.have = 0

    def add(self, cols: Columns) -> Iterator[Columns]:
        n = len(cols[self.names[0]])
        if n:
            self.parts.append(cols)
            self.have += n
        while self.have >= self.size:
            yield self._take(self.size)

    def rest(self) -> Iterator[Columns]:
        if self.have:
            yield self._take(self.have)

    def _take(self, size: int) -> Columns:
        import numpy as np  # TF side only: the Flink operator side never loads numpy

        taken, need = [], size
        while need:
            part = self.parts[0]
            n = len(part[self.names[0]])
            if n <= need:
                taken.append(self.parts.pop(0))
                need -= n
            else:
                taken.append({k: v[:need] for k, v in part.items()})
                self.parts[0] = {k: v[need:] for k, v in part.items()}
                need = 0
        self.have -= size
        if len(taken) == 1:
            return taken[0]
        return {k: np.concatenate([t[k] for t in taken]) for k in self.names}


def column_batches(
    client: BridgeClient,
    columns: list[tuple[str, str]],
    batch_size: int,
    wire_columns: list[tuple[str, str]] | None = None,
    step: BatchFunction | None = None,
) -> Iterator[Columns]:
    """Dicts of numpy columns of ``batch_size`` rows (the last one shorter) until end of input.

    With a batch feature ``step``, batches arrive as ``wire_columns`` and ``step`` turns each
    into the declared ``columns`` (vectorised, here in the TF node: no Python per row in Flink).
    """
    if not columns:
        raise BridgeError("no input columns declared")
    wire = wire_columns or columns
    out = Rebatcher([n for n, _ in columns], batch_size)
    for batch in client.batches_iter():
        cols = _as_columns(batch, wire)
        if step is not None:
            cols = typed_output(step(cols), columns, "spec.input.process (batch)")
        barrier = batch.checkpoint if client.exactly_once and isinstance(batch, TypedColumns) else 0
        if not barrier:
            yield from out.add(cols)
            continue
        # The rows before a checkpoint end with a (maybe short) batch; between handing it over
        # and the next pull, the checkpoint is requested: context.save() writes it then.
        pieces = [*out.add(cols), *out.rest()]
        for i, piece in enumerate(pieces):
            client.requested = barrier if i == len(pieces) - 1 else None
            yield piece
            client.requested = None
    yield from out.rest()


def stacked_columns(columns: list[tuple[str, str]], stack: dict[str, list[str]]) -> dict[str, tuple[str, int]]:
    """name -> (type, width) of each stacked matrix; ValueError naming a bad group."""
    types = dict(columns)
    out: dict[str, tuple[str, int]] = {}
    used: set[str] = set()
    for name, members in stack.items():
        unknown = [m for m in members if m not in types]
        if not members or unknown:
            raise ValueError(f"stack[{name!r}]: {unknown or 'no columns'} not among the input columns {list(types)}")
        kinds = {types[m] for m in members}
        if len(kinds) != 1 or "string" in kinds:
            raise ValueError(f"stack[{name!r}]: columns of one numeric type only, got {sorted(kinds)}")
        twice = used & set(members)
        if twice or (name in types and name not in members):
            raise ValueError(f"stack[{name!r}]: {sorted(twice) or name!r} would be in the batch twice")
        used |= set(members)
        out[name] = (kinds.pop(), len(members))
    return out


def stacked(
    batches: Iterator[Columns], columns: list[tuple[str, str]], stack: dict[str, list[str]]
) -> Iterator[Columns]:
    """``batches`` with each group of ``stack`` joined into one ``[rows, k]`` matrix."""
    import numpy as np  # TF side only: the Flink operator side never loads numpy

    stacked_columns(columns, stack)  # refuse a bad group before the first batch
    members = {m for group in stack.values() for m in group}
    for cols in batches:
        out = {k: v for k, v in cols.items() if k not in members}
        for name, group in stack.items():
            out[name] = np.stack([cols[m] for m in group], axis=1)
        yield out
