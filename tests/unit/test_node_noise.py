"""`tfflink run` without -v: TF's C++ INFO logs and deprecation notices left out of node output."""

from __future__ import annotations

from tfflink.runtime.cluster.log_echo import NodeNoise

# Lines as TF 2.20 prints them in a node (TF_CPP_MIN_LOG_LEVEL=1 does not stop absl's INFO lines).
NOISE = [
    "[worker-0] WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "[worker-0] I0000 00:00:1795973334.616360   13767 grpc_server_lib.cc:466] Started server with target: grpc://x",
    "[ps-0] 2024-05-01 10:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.",
    "[worker-0] WARNING:tensorflow:From /venv/tensorflow/python/util/tf_should_use.py:288: initialize_all_variables"
    " (from tensorflow.python.ops.variables) is deprecated and will be removed after 2017-03-02.",
    "[worker-0] Instructions for updating:",
    "[worker-0] Use `tf.global_variables_initializer` instead.",
    "[worker-0] WARNING:tensorflow:From /job/train.py:5: The name tf.Session is deprecated. Please use X instead.",
    "[worker-0] ",
    "[worker-1] /job/train.py:11: DeprecationWarning: old thing",
    '[worker-1]   warnings.warn("old thing", DeprecationWarning, stacklevel=1)',
]
KEPT = [
    "[worker-0] step 10 loss 0.25",
    "[worker-0] ",  # a blank line the user printed
    "[worker-0] Traceback (most recent call last):",
    '[worker-0]   File "/job/train.py", line 3, in map_func',
    "[worker-0] ValueError: bad input",
    "[worker-0] W0000 00:00:1795973334.616360   13767 grpc.cc:1] a C++ warning stays",
    "[worker-0] E0000 00:00:1795973334.616360   13767 grpc.cc:1] a C++ error stays",
    "[worker-0] /job/train.py:7: UserWarning: the user's own warning stays",
    "tfflink: something the runtime says",
]


def test_noise_is_left_out_and_the_rest_kept() -> None:
    noise = NodeNoise()
    assert [line for line in NOISE if noise.keep(line)] == []
    assert [line for line in KEPT if noise.keep(line)] == KEPT


def test_notices_are_followed_per_node() -> None:
    noise = NodeNoise()
    lines = [
        "[worker-0] /job/train.py:11: DeprecationWarning: old thing",
        "[worker-1]   an indented line of the user's",  # another node: kept
        "[worker-0]   warnings.warn(...)",
        "[worker-0]   the next indented line is the user's again",
    ]
    assert [line for line in lines if noise.keep(line)] == [lines[1], lines[3]]
