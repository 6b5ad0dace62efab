"""tfflink: distributed TensorFlow on Apache Flink."""

__version__ = "0.1.0"
