"""Flink's configuration directory: the distribution's defaults with our keys on top.

Flink's shipped ``config.yaml`` carries what the JVMs need to run at all (on Java 17,
``env.java.opts.all`` opens ``java.base`` to Flink's serializers); a config that drops it fails
``flink run`` with ``InaccessibleObjectException``. So neither backend writes a config from
scratch: both take the defaults of the Flink they run (the PyFlink wheel here, the image's
Flink in a pod) and set their keys over them. On Kubernetes the pods do the merge at start
(``tfflink flink-exec``), since only the image knows its Flink's defaults.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "config.yaml"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML maps as Flink's dotted keys (``env: {java: ...}`` -> ``env.java...``)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def merged(defaults_text: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The defaults' keys (flattened), then ``overrides`` on top."""
    tree = yaml.safe_load(defaults_text) or {}
    if not isinstance(tree, Mapping):
        raise ValueError("Flink's default config.yaml is not a mapping")
    conf = flatten(tree)
    conf.update(overrides)
    return conf


def render(conf: Mapping[str, Any]) -> str:
    """config.yaml text with one flat key per line (Flink 2 reads dotted keys as is)."""
    return yaml.safe_dump(dict(sorted(conf.items())), default_flow_style=False, width=1 << 16)


def write_conf_dir(
    dest: Path, *, defaults_dir: Path, overrides: Mapping[str, str], files: Mapping[str, str] | None = None
) -> Path:
    """Copy ``defaults_dir`` (log4j files...) to ``dest``, merge config.yaml, add ``files``."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in defaults_dir.iterdir():
        if f.is_file() and f.name != CONFIG_FILE:
            shutil.copy(f, dest / f.name)
    text = (defaults_dir / CONFIG_FILE).read_text()
    (dest / CONFIG_FILE).write_text(render(merged(text, overrides)))
    for name, content in (files or {}).items():
        (dest / name).write_text(content)
    return dest
