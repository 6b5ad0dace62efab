"""The PyFlink program ``flink run`` executes: builds the TF job graph and submits it.

Usage (done by ``tfflink submit``/``tfflink run``)::

    flink run -m HOST:PORT -d -py .../flink_job.py --config runtime-config.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment

from tfflink.runtime.config import RuntimeConfig
from tfflink.runtime.flink.graph import build_job


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
