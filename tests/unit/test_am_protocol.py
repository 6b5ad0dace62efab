"""The AM protocol's types: the JSON they make is the wire format the CLI, the operator and
node agents of the same version read; what does not fit a type is refused, naming the field."""

from __future__ import annotations

import pytest

from tfflink.runtime.cluster.progress import Progress
from tfflink.runtime.cluster.protocol import (
    Action,
    ClusterReply,
    FinishRequest,
    HeartbeatRequest,
    RegisterRequest,
    Reply,
)


def test_requests_make_the_wire_bodies_and_parse_back() -> None:
    reg = RegisterRequest("worker", 1, "10.0.0.7:2222", None)
    assert reg.to_wire() == {"role": "worker", "index": 1, "address": "10.0.0.7:2222", "version": None}
    beat = HeartbeatRequest("ps", 0, 3, True, ["a"], Progress(step=5, checkpoint_step=4))
    assert beat.to_wire() == {
        "role": "ps",
        "index": 0,
        "version": 3,
        "running": True,
        "logs": ["a"],
        "progress": {"step": 5, "metrics": {}, "checkpointStep": 4},
    }
    done = FinishRequest("chief", 0, 2, 1, "ValueError: x")
    assert done.to_wire() == {"role": "chief", "index": 0, "version": 2, "exitCode": 1, "error": "ValueError: x"}
    for req in (reg, beat, done):
        assert type(req).from_wire(req.to_wire()) == req


def test_replies_make_the_wire_answers_and_parse_back() -> None:
    assert Reply(Action.STOP, 2, error="unknown node x-9").to_wire() == {
        "action": "stop",
        "version": 2,
        "error": "unknown node x-9",
    }
    assert ClusterReply(Action.CONTINUE, 1, ready=False).to_wire() == {
        "action": "continue",
        "version": 1,
        "ready": False,
    }
    ready = ClusterReply(Action.CONTINUE, 1, ready=True, cluster={"worker": ["h:1"]})
    assert ready.to_wire() == {"action": "continue", "version": 1, "ready": True, "cluster": {"worker": ["h:1"]}}
    assert ClusterReply.from_wire(ready.to_wire()) == ready
    assert Reply.from_wire({"action": "restart", "version": 4}) == Reply(Action.RESTART, 4)


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (RegisterRequest, {"role": "w", "index": 0, "address": "nohost"}, "address"),
        (RegisterRequest, {"role": "w", "index": True, "address": "h:1"}, "index"),
        (HeartbeatRequest, {"role": "w", "index": 0, "version": 1, "running": "yes"}, "running"),
        (HeartbeatRequest, {"role": "w", "index": 0, "version": 1, "logs": [1]}, "logs"),
        (FinishRequest, {"role": "w", "index": 0, "version": 1, "exitCode": 1.5}, "exitCode"),
        (Reply, {"action": "dance", "version": 1}, "action"),
        (ClusterReply, {"action": "continue", "version": 1, "ready": True}, "cluster"),
    ],
)
def test_what_does_not_fit_is_refused_naming_the_field(kind: type, body: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        kind.from_wire(body)
