"""How nodes find the AM: only this submission's, signed, well-formed record is accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfflink.runtime.cluster.rendezvous import (
    MAX_RECORD,
    ConfigMapRendezvous,
    FileRendezvous,
    RendezvousError,
    open_rendezvous,
)


def test_published_address_is_found_by_the_same_submission(tmp_path: Path) -> None:
    FileRendezvous(str(tmp_path), "sub-1", token="t0k").publish("10.0.0.5:4040")
    assert FileRendezvous(str(tmp_path), "sub-1", token="t0k").lookup(timeout=1) == "10.0.0.5:4040"
    assert (tmp_path / "am.json").exists() and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "record",
    [
        {"submission": "sub-0", "address": "10.0.0.5:4040"},  # an earlier attempt's
        {"submission": "sub-1", "address": "10.0.0.5:4040", "mac": "0" * 64},  # forged
        {"submission": "sub-1", "address": "10.0.0.5:4040"},  # unsigned
        {"submission": "sub-1", "address": "evil host;rm:1", "mac": ""},
        ["sub-1", "10.0.0.5:4040"],
    ],
)
def test_foreign_forged_or_malformed_records_are_ignored(tmp_path: Path, record: object) -> None:
    (tmp_path / "am.json").write_text(json.dumps(record))
    with pytest.raises(RendezvousError, match="no AM address published within 0s"):
        FileRendezvous(str(tmp_path), "sub-1", token="t0k").lookup(timeout=0, poll=0.01)


def test_oversized_record_is_ignored(tmp_path: Path) -> None:
    signed = FileRendezvous(str(tmp_path), "sub-1", token="t0k")
    rec = {"submission": "sub-1", "address": "h:1", "mac": signed._mac("h:1"), "pad": "x" * MAX_RECORD}
    (tmp_path / "am.json").write_text(json.dumps(rec))
    with pytest.raises(RendezvousError):
        signed.lookup(timeout=0, poll=0.01)


def test_signature_binds_the_address_to_the_submission(tmp_path: Path) -> None:
    a = FileRendezvous(str(tmp_path), "sub-1", token="t0k")
    assert a._mac("h:1") != a._mac("h:2")
    assert a._mac("h:1") != FileRendezvous(str(tmp_path), "sub-2", token="t0k")._mac("h:1")


def test_open_rendezvous_by_uri(tmp_path: Path) -> None:
    assert isinstance(open_rendezvous(f"file://{tmp_path}", "s"), FileRendezvous)
    cm = open_rendezvous("configmap://ns1/job-config", "s")
    assert isinstance(cm, ConfigMapRendezvous) and cm.url.endswith("/api/v1/namespaces/ns1/configmaps/job-config")
    for bad in ("configmap://ns1", "http://x/y", "job-config"):
        with pytest.raises(RendezvousError, match="unsupported rendezvous"):
            open_rendezvous(bad, "s")
