"""Data plane: what runs inside Flink (AM, node agents, TF node processes, rendezvous)."""
