"""The one line a user sees for a failure: from a Flink root exception or the flink client."""

from __future__ import annotations

from tfflink.backends.submit import _reason
from tfflink.lifecycle.errors import FatalJobError, error_line, is_fatal, strip_fatal

FLINK_ROOT = """\
org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy
\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(X.java:1)
Caused by: java.lang.RuntimeException: Error received from SDK harness for instruction 4
Traceback (most recent call last):
  File "/job/train.py", line 12, in map_func
    raise ValueError("outer")
ValueError: outer
Caused by: tfflink.runtime.flink.rows.MalformedRow: [fatal] rows.csv:7: column 'x': cannot parse 'a' as float32
\tat org.apache.beam.sdk.fn.X.y(X.java:2)
"""


def test_error_line_takes_the_innermost_python_error_without_its_module() -> None:
    assert error_line(FLINK_ROOT) == "MalformedRow: [fatal] rows.csv:7: column 'x': cannot parse 'a' as float32"


def test_error_line_skips_java_exceptions_and_falls_back_to_the_first_line() -> None:
    java_only = "org.apache.flink.X: boom\njava.lang.IllegalStateException: nope\n"
    assert error_line(java_only) == "org.apache.flink.X: boom"
    assert error_line("\n\n  killed by signal 9 \n") == "killed by signal 9"
    assert len(error_line("RuntimeError: " + "x" * 2000)) == 500


def test_fatal_mark_survives_text_and_is_stripped_for_display() -> None:
    text = f"Traceback...\n{FatalJobError('bad model path')!r}"
    assert is_fatal(str(FatalJobError("bad model path")))
    assert is_fatal(text) and not is_fatal("ValueError: restartable")
    assert strip_fatal(error_line("FatalJobError: [fatal] bad model path")) == "FatalJobError: bad model path"


def test_submit_reason_prefers_the_last_cause_then_error_lines() -> None:
    out = """\
 The program finished with the following exception:
org.apache.flink.client.program.ProgramInvocationException: The main method caused an error
Caused by: java.net.ConnectException: Connection refused
Caused by: java.net.ConnectException: Connection refused: localhost/127.0.0.1:8081
"""
    assert _reason(out) == "Caused by: java.net.ConnectException: Connection refused: localhost/127.0.0.1:8081"
    assert _reason("starting\nError: no such file job.py\n") == "Error: no such file job.py"
    assert _reason("  \n") == "no output"
    assert _reason("a\nlast line\n") == "last line"
