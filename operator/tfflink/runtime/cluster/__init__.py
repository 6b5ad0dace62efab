"""The TF-cluster side: the AM, the node agents and the TF node processes (no PyFlink here).

It runs inside Flink operators, but knows Flink only as the caller of ``run_am`` and
``NodeAgent``; the TF node processes it starts never import PyFlink.
"""
