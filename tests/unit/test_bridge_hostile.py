"""The data bridge against hostile or broken peers: no pickle, bounded frames, private socket,
peer uid checked, and a broken channel fails the TF side instead of hanging it."""

from __future__ import annotations

import math
import os
import pickle
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.closing import close_after_test
from tfflink.runtime.cluster import bridge
from tfflink.runtime.cluster.bridge import (
    HEADER,
    MAX_FRAME,
    OUT,
    ROWS,
    BridgeClient,
    BridgeError,
    BridgeProtocolError,
    BridgeServer,
    column_batches,
    decode_rows,
    encode_rows,
    private_socket_path,
)

pytestmark = pytest.mark.timeout(60)
BIG = 9007199254740993  # 2**53 + 1: not a float64


def server_in(path: Path, alive: bool = True) -> BridgeServer:
    return close_after_test(BridgeServer(str(path), alive=lambda: alive, batch_rows=4))


def raw_client(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def pump_until_dropped(server: BridgeServer, seconds: float = 5) -> None:
    """Let the server read what its consumer sent until it drops the connection."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.conn is None:
            server._accept(0.1)
        if server.conn is not None:
            server._pump(0.1)
            if server.conn is None:
                return
    raise AssertionError("the server kept a connection that sent garbage")


def test_typed_framing_round_trips_values_exactly() -> None:
    rows = [
        (BIG, -(2**63), 0.1, float("inf"), "é \udcff \x00", True, None, 2**70),
        (-BIG, 2**63 - 1, -0.0, float("nan"), "", False, None, 1),
    ]
    got = decode_rows(encode_rows(rows))
    assert [r[:3] for r in got] == [r[:3] for r in rows] and type(got[0][0]) is int
    assert got[0][3] == math.inf and math.isnan(got[1][3]) and math.copysign(1, got[1][2]) < 0
    assert [r[4:] for r in got] == [r[4:] for r in rows]
    assert not encode_rows(rows).startswith(b"\x80"), "no pickle protocol header"


def test_int64_column_is_exact_through_the_bridge(tmp_path: Path) -> None:
    server = server_in(tmp_path / "b.sock")
    got: list[dict] = []

    def read() -> None:
        c = BridgeClient(server.path)
        got.extend(column_batches(c, [("id", "int64"), ("x", "float64"), ("s", "string")], 10))
        c.write([{"id": BIG, "nested": {"a": [1, 2.5, None]}}])
        c.done()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    server.put((BIG, 0.5, "a"))
    server.put((-BIG, 1.5, "b"))
    results = server.end(timeout=10)
    t.join(5)
    assert [int(v) for v in got[0]["id"]] == [BIG, -BIG]
    assert results == [{"id": BIG, "nested": {"a": [1, 2.5, None]}}]


def test_results_must_be_plain_data(tmp_path: Path) -> None:
    import numpy as np

    server = server_in(tmp_path / "b.sock")
    errors: list[BaseException] = []

    def read() -> None:
        c = BridgeClient(server.path)
        for _ in c.batches_iter():
            pass
        c.write([{"p": np.float32(0.5), "v": np.arange(3), "b": b"raw"}])  # numpy and bytes convert
        try:
            c.write([{"obj": object()}])
        except TypeError as e:
            errors.append(e)
        c.done()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    server.put((1,))
    results = server.end(timeout=10)
    t.join(5)
    assert results == [{"p": 0.5, "v": [0, 1, 2], "b": "raw"}]
    assert errors and "not object" in str(errors[0])


def test_a_pickle_frame_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    server = server_in(tmp_path / "b.sock")
    s = raw_client(server.path)
    payload = pickle.dumps([Evil()])
    s.sendall(HEADER.pack(len(payload), OUT) + payload)
    pump_until_dropped(server)
    assert not marker.exists() and server.take() == [] and server.refused == 1
    s.close()
    server.close()


@pytest.mark.parametrize(
    "garbage",
    [
        HEADER.pack(150 << 20, ROWS),  # an unterminated 150 MiB frame: refused at its header
        HEADER.pack(MAX_FRAME + 1, OUT) + b"x" * 100,
        b"\xff" * 64,  # unknown kind
        HEADER.pack(5, OUT) + b"[1,2]",  # results that are not objects
        HEADER.pack(3, b"D") + b"abc",  # DONE with a payload
        HEADER.pack(12, ROWS) + struct.pack("<II", 1 << 30, 1) + b"q\x00\x00\x00",  # lying row count
    ],
    ids=["150MiB-header", "over-limit", "unknown-kind", "results-not-objects", "done-with-payload", "lying-rows"],
)
def test_garbage_from_a_consumer_drops_it_and_the_next_one_works(tmp_path: Path, garbage: bytes) -> None:
    server = server_in(tmp_path / "b.sock")
    s = raw_client(server.path)
    s.sendall(garbage)
    pump_until_dropped(server)
    assert server.reader.buf.__len__() < 1 << 20, "nothing big was buffered"
    s.close()
    seen: list[int] = []

    def good() -> None:
        c = BridgeClient(server.path)
        for b in c.batches_iter():
            seen.extend(r[0] for r in b)
        c.done()

    t = threading.Thread(target=good, daemon=True)
    t.start()
    for i in range(10):
        server.put((i,))
    server.end(timeout=10)
    t.join(5)
    assert seen == list(range(10))
    server.close()


def _fake_operator(path: str, send: bytes) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            conn.sendall(send)
            time.sleep(3)
        except OSError:
            pass  # the client gave up first (a huge frame): what the test wants
        finally:
            conn.close()
            listener.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize(
    "send", [b"\x00\x00\x00\x10Zgarbage-garbage", HEADER.pack(1 << 30, ROWS)], ids=["garbage", "huge"]
)
def test_a_broken_channel_fails_the_tf_side_instead_of_hanging(tmp_path: Path, send: bytes) -> None:
    path = str(tmp_path / "b.sock")
    _fake_operator(path, send)
    c = BridgeClient(path)
    t0 = time.monotonic()
    with pytest.raises(BridgeProtocolError):
        for _ in c.batches_iter():
            pass
    assert time.monotonic() - t0 < 2
    c.sock.close()


def test_operator_gone_before_end_of_input_is_an_error_not_an_end(tmp_path: Path) -> None:
    path = str(tmp_path / "b.sock")
    frame = encode_rows([(1,), (2,)])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(HEADER.pack(len(frame), ROWS) + frame)
        conn.close()  # no END: the Flink side died

    threading.Thread(target=serve, daemon=True).start()
    c = BridgeClient(path)
    got = []
    with pytest.raises(BridgeError, match="before the end of input"):
        for b in c.batches_iter():
            got += b
    assert got == [(1,), (2,)]
    c.sock.close()
    listener.close()


def test_socket_lives_in_a_private_directory(tmp_path: Path) -> None:
    path = private_socket_path()
    server = BridgeServer(path, alive=lambda: True, own_dir=True)
    d = os.path.dirname(path)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    server.close()
    assert not os.path.exists(d)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    with pytest.raises(BridgeError, match="no one else can write"):
        BridgeServer(str(shared / "b.sock"), alive=lambda: True)
    private = BridgeServer.private(alive=lambda: True)
    assert private.path.startswith(tempfile_dir()) and private.own_dir
    private.close()


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_a_peer_of_another_uid_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = server_in(tmp_path / "b.sock")
    monkeypatch.setattr(bridge, "peer_uid", lambda sock: os.geteuid() + 1)
    s = raw_client(server.path)
    assert server._accept(2) is False and server.refused == 1 and server.conn is None
    s.close()
    with pytest.raises(BridgeError, match="another user"):  # and the TF side checks the operator
        BridgeClient(server.path, connect_timeout=1)
    server.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
def test_a_real_process_of_another_uid_is_refused() -> None:
    server = BridgeServer.private(alive=lambda: True)
    # Simulate a misconfigured directory: everyone may reach the socket, the uid check still holds.
    os.chmod(os.path.dirname(server.path), 0o711)
    os.chmod(server.path, 0o777)
    code = (
        "import os, socket, sys; os.setgid(65534); os.setuid(65534); s = socket.socket(socket.AF_UNIX); "
        "s.connect(sys.argv[1]); s.sendall(b'x' * 10); import time; time.sleep(2)"
    )
    p = subprocess.Popen([sys.executable, "-c", code, server.path])
    try:
        assert server._accept(5) is False and server.refused == 1
    finally:
        p.kill()
        p.wait()
        server.close()
