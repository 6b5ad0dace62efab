"""The PyFlink program ``flink run`` executes: builds the TF job graph and submits it.

Usage (done by ``tfflink submit``/``tfflink run``)::

    flink run -m HOST:PORT -d -py .../flink_job.py --config runtime-config.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment

from tfflink.runtime.config import RuntimeConfig
from tfflink.runtime.flink.inference import add_saved_model_inference
from tfflink.runtime.flink.jvm_plane import add_jvm_inference, uses_jvm
from tfflink.runtime.flink.roles import add_tf_cluster
from tfflink.runtime.flink.workers import add_stream_cluster
from tfflink.spec.models import Mode


def build_job(env: StreamExecutionEnvironment, cfg: RuntimeConfig) -> None:
    """The whole Flink program of ``cfg``, by ``spec.mode``."""
    mode = cfg.spec.mode
    if mode is Mode.INFERENCE:
        if uses_jvm(cfg.spec):
            add_jvm_inference(env, cfg)
        else:
            add_saved_model_inference(env, cfg)
    elif mode is Mode.STREAM:
        add_stream_cluster(env, cfg)
    else:
        add_tf_cluster(env, cfg)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True, help="RuntimeConfig as a JSON file")
    args = parser.parse_args()
    cfg = RuntimeConfig.from_json(Path(args.config).read_text())
    env = StreamExecutionEnvironment.get_execution_environment()
    # All roles must run at once (ps serve while workers train): STREAMING, bounded sources.
    env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
    build_job(env, cfg)
    env.execute(f"tfflink-{cfg.name}")


if __name__ == "__main__":
    main()
