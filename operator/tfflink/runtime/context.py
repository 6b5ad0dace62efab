"""TFContext: what the user's ``map_func(context)`` is handed inside its TF node process.

The method names follow the seed's API (get_role_name, get_index, get_tf_cluster) so code
written for it runs unchanged; nothing here imports TensorFlow.
"""

from __future__ import annotations

from typing import Any


class TFContext:
    """One node's view of the job: its role, index, the TF cluster and the job's properties."""

    def __init__(self, node: dict[str, Any]) -> None:
        self._node = node

    def get_role_name(self) -> str:
        """'worker' or 'ps'."""
        return str(self._node["role"])

    def get_index(self) -> int:
        """This node's index within its role (the Flink subtask index)."""
        return int(self._node["index"])

    def get_tf_cluster(self) -> dict[str, list[str]]:
        """role -> ["host:port", ...] ordered by index, ready for ``tf.train.ClusterSpec``."""
        return {k: list(v) for k, v in self._node["cluster"].items()}

    def get_property(self, key: str, default: str | None = None) -> str | None:
        """A value of the job's ``spec.properties``."""
        return self._node["properties"].get(key, default)

    def get_properties(self) -> dict[str, str]:
        return dict(self._node["properties"])

    def get_checkpoint_dir(self) -> str | None:
        """The job's ``spec.checkpointDir`` (shared by every node and every restart)."""
        return self._node.get("checkpoint_dir")

    def get_cluster_version(self) -> int:
        """Increases by one with every full restart of the TF cluster."""
        return int(self._node["version"])

    def get_job_name(self) -> str:
        return str(self._node["job_name"])

    def is_chief(self) -> bool:
        """Worker 0 is the chief: it writes checkpoints and exports models."""
        return self.get_role_name() == "worker" and self.get_index() == 0

    def tf_config(self) -> dict[str, Any]:
        """The standard TF_CONFIG dict (also set in the environment)."""
        return {"cluster": self.get_tf_cluster(), "task": {"type": self.get_role_name(), "index": self.get_index()}}
