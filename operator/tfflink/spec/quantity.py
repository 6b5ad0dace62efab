"""Memory sizes as the spec writes them (``1600m``, ``2g``, ``2Gi``) in Flink's and Kubernetes' terms.

The spec follows Flink: ``k``/``m``/``g`` are binary units, like ``Ki``/``Mi``/``Gi``; a bare
number is bytes. (Kubernetes would read ``1600m`` as 1.6 bytes, hence one conversion here.)
"""

from __future__ import annotations

import math
import re

MEMORY_PATTERN = r"^[0-9]+(k|m|g|Ki|Mi|Gi)?$"
_FLINK_UNIT = {"": "", "k": "k", "m": "m", "g": "g", "Ki": "k", "Mi": "m", "Gi": "g"}
_MIB = {"": 1 / 2**20, "k": 1 / 1024, "Ki": 1 / 1024, "m": 1, "Mi": 1, "g": 1024, "Gi": 1024}


def _split(value: str) -> tuple[int, str]:
    m = re.fullmatch(MEMORY_PATTERN[1:-1], value)
    if m is None:  # the spec's pattern makes this unreachable for validated specs
        raise ValueError(f"bad memory size {value!r}")
    return int(value[: len(value) - len(m.group(1) or "")]), m.group(1) or ""


def flink_memory(value: str) -> str:
    """In Flink's units: ``2Gi`` -> ``2g``, ``1600m`` stays."""
    number, unit = _split(value)
    return f"{number}{_FLINK_UNIT[unit]}"


def mib(value: str) -> int:
    """In whole MiB, rounded up (for Kubernetes requests and limits)."""
    number, unit = _split(value)
    return math.ceil(number * _MIB[unit])
