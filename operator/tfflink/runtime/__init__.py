"""What runs inside Flink, in two sides: ``flink`` builds the Flink graph (PyFlink), which hosts
``cluster``, the TF cluster (AM, node agents, TF node processes; no PyFlink). Both read ``config``."""
