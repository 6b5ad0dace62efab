"""The library API: add a TF cluster (or a SavedModel scorer) to your own PyFlink program.

    env = StreamExecutionEnvironment.get_execution_environment()
    rows = ...  # a DataStream of dicts (or tuples in spec.input column order)
    tfflink.train(env, "job.yaml", input=rows)                 # stream training
    preds = tfflink.inference(rows, "predict.yaml")            # DataStream of result dicts
    preds.map(...).print(); env.execute()

The job file (or dict) is the same TFFlinkJob a ``tfflink run`` takes; ``spec.input`` may be
omitted when you pass the stream. Nodes find the AM through a file rendezvous in a local
directory (pass ``rendezvous=`` for another). Run the program with ``flink run -py`` or
locally; its cluster needs ``spec.slots_needed()`` slots.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .runtime.config import RuntimeConfig
from .spec import LoadedJob, load_job, parse_job
from .spec.models import Mode

if TYPE_CHECKING:
    from pyflink.common.typeinfo import TypeInformation
    from pyflink.datastream import DataStream, StreamExecutionEnvironment


def make_config(job: str | Path | dict[str, Any], *, rendezvous: str | None = None) -> RuntimeConfig:
    """A RuntimeConfig for one submission of ``job`` (a job file path or a TFFlinkJob dict)."""
    if isinstance(job, dict):
        loaded = LoadedJob(job=parse_job(job), path=Path.cwd() / "job.yaml", base_dir=Path.cwd())
    else:
        loaded = load_job(job)
    submission = uuid.uuid4().hex[:12]
    rdv = rendezvous or f"file://{tempfile.mkdtemp(prefix='tfflink-rdv-')}"
    return RuntimeConfig.from_loaded(loaded, rendezvous=rdv, submission=submission)


def _config(config: Any) -> RuntimeConfig:
    return config if isinstance(config, RuntimeConfig) else make_config(config)


def train(env: StreamExecutionEnvironment, config: Any, input: DataStream | None = None) -> DataStream | None:
    """Add AM, ps and workers to ``env``; workers consume ``input`` (p = worker replicas).

    Without ``input`` the job runs as in batch mode (each node reads its own data), or, for
    ``spec.mode: stream``, from the pipeline its ``spec.input`` describes. Returns the
    workers' result stream (what TF wrote through ``context.get_writer()``) when fed a stream.
    """
    # PyFlink loads on first use: ``import tfflink`` stays light (the CLI, the operator image).
    from .runtime.flink.roles import add_source_roles, add_tf_cluster
    from .runtime.flink.workers import add_stream_cluster, add_stream_workers

    cfg = _config(config)
    if input is None:
        if cfg.spec.input is not None:
            add_stream_cluster(env, cfg)
        else:
            add_tf_cluster(env, cfg)
        return None
    add_source_roles(env, cfg, with_workers=False)
    return add_stream_workers(env, cfg, input, sink=False)


def inference(stream: DataStream, config: Any, output_type: TypeInformation | None = None) -> DataStream:
    """Score ``stream`` and return the results as a DataStream for you to join, sink or print.

    ``spec.mode: inference`` scores with the SavedModel in-process (no TF cluster); otherwise
    the TF cluster's workers (with ps holding a checkpoint) write one result per row. With
    ``output_type`` (a ``Types.ROW_NAMED``), result dicts become Rows of those fields.
    """
    from pyflink.common import Row  # as in train: PyFlink loads on first use

    from .runtime.flink.inference import add_saved_model_inference

    cfg = _config(config)
    env = stream.get_execution_environment()
    if cfg.spec.mode is Mode.INFERENCE:
        out = add_saved_model_inference(env, cfg, rows=stream, sink=False)
    else:
        got = train(env, cfg, input=stream)
        assert got is not None
        out = got
    if output_type is None:
        return out
    names = list(output_type.get_field_names())

    def to_row(d: dict[str, Any]) -> Row:
        row = Row(*[d.get(n) for n in names])
        row.set_field_names(names)
        return row

    return out.map(to_row, output_type=output_type)
