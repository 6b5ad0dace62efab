"""The Flink-graph side: the PyFlink (and JVM data plane) operators that host the TF cluster.

Its modules import PyFlink at once, except ``jars`` (the local backend reads it before any
Flink process runs); this package's own import stays free of PyFlink for that reason.
"""
