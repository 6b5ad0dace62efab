"""tfflink: distributed TensorFlow on Apache Flink.

The library API for your own PyFlink programs is ``tfflink.train`` and ``tfflink.inference``
(see ``tfflink.api``); ``tfflink`` on the command line runs job files.
"""

from .api import inference, make_config, train

__version__ = "0.1.0"
__all__ = ["__version__", "inference", "make_config", "train"]
