"""One classification of a run's end for `tfflink run` and the operator (lifecycle.outcome)."""

from __future__ import annotations

from tfflink.lifecycle.outcome import EndKind, classify


def test_running_jobs_have_no_outcome_yet() -> None:
    for state in ("RUNNING", "CREATED", "FAILING", "CANCELLING", "RESTARTING"):
        assert classify(state, root_exception="boom") is None


def test_finished_is_success() -> None:
    assert classify("FINISHED").kind is EndKind.SUCCEEDED


def test_fatal_errors_are_not_retried_and_keep_their_python_line() -> None:
    end = classify("FAILED", root_exception="x\nCaused by: tfflink.lifecycle.errors.FatalJobError: [fatal] bad config")
    assert end is not None and end.kind is EndKind.NOT_RETRYABLE and not end.retryable
    assert end.reason == "FatalJobError: bad config (not retried)"


def test_am_gave_up_from_its_status_or_from_the_root_exception() -> None:
    end = classify(
        "FAILED",
        am_phase="Failed",
        am_message="worker-1 failed: killed by signal 9 (gave up after 3 restart(s), maxRestarts=3)",
    )
    assert end is not None and end.kind is EndKind.GAVE_UP and end.restarts == 3
    end = classify(
        "FAILED",
        root_exception="Caused by: TFJobFailed: TFFlinkJob failed: ps-0 failed: OSError: x (gave up after 1 restart(s), maxRestarts=1)",
    )
    assert end is not None and end.kind is EndKind.GAVE_UP and end.restarts == 1
    assert end.reason.startswith("ps-0 failed: OSError: x")


def test_other_failures_are_retryable_with_the_most_telling_line() -> None:
    end = classify(
        "FAILED",
        root_exception="org.apache.flink.runtime.JobException: Recovery is suppressed\nCaused by: RuntimeError: python worker died",
    )
    assert end is not None and end.retryable and end.reason == "RuntimeError: python worker died"
    end = classify("CANCELED")
    assert end is not None and end.retryable and end.reason == "Flink job CANCELED"


def test_the_jvm_planes_bad_rows_and_configuration_are_not_retried() -> None:
    from tfflink.lifecycle.outcome import EndKind, classify

    root = (
        "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n"
        "Caused by: dev.tfflink.dataplane.MalformedRow: [fatal] /data/a.csv:6: expected 5 columns, got 3\n"
        "\tat dev.tfflink.dataplane.CsvParser.parse(CsvParser.java:106)\n"
    )
    out = classify("FAILED", root_exception=root)
    assert out.kind is EndKind.NOT_RETRYABLE and "MalformedRow: /data/a.csv:6: expected 5 columns" in out.reason
    cfg = "Caused by: dev.tfflink.dataplane.FatalJobError: [fatal] spec.savedModel.signature: 'x' not in ['serving_default']"
    assert classify("FAILED", root_exception=cfg).kind is EndKind.NOT_RETRYABLE
    other = "Caused by: java.io.IOException: the TF node for worker-0.sock will not connect: RuntimeError: lost the AM"
    assert classify("FAILED", root_exception=other).kind is not EndKind.NOT_RETRYABLE
