"""Helpers shared by the test tiers, each defined once (import as ``tests.support.<module>``).

* :mod:`.jobs` -- job documents: a local job (``job_doc``), a TFFlinkJob as the API server
  stores it (``k8s_job``), an example copied into a test dir (``copy_example``), a SavedModel.
* :mod:`.cli` -- the ``tfflink`` command line as a user runs it: one-shot (``tfflink``) or a
  whole ``tfflink run`` watched line by line (``run_job``).
* :mod:`.procs` -- live processes: leak checks and the finders of a run's processes.
* :mod:`.net` -- a free loopback port, a plain GET.
* :mod:`.waiting` -- ``wait_for``: poll until true, fail saying what was awaited.
* :mod:`.closing` -- ``close_after_test``: sockets and servers closed when the test ends.

Tier-specific drivers stay in their tier: ``tests/e2e/controlplane.py`` starts a real control
plane, ``tests/emulator`` runs the API stand-in; each tier's Flink REST stand-in is its own
(see their docstrings).
"""
