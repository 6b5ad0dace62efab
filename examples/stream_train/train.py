"""Linear regression on rows streamed from Flink: workers read context.get_dataset(), ps hold w, b.

Each worker trains on the batches its Flink subtask receives until the input ends, then
writes how many rows it consumed and its first/last batch loss to checkpointDir.
"""

import json
import os

import tensorflow as tf

from tfflink.tf import wait_until_initialized

tf1 = tf.compat.v1
FEATURES = [f"f{i}" for i in range(6)]


def map_func(context):
    role, index = context.get_role_name(), context.get_index()
    lr = float(context.get_property("learning_rate", "0.1"))
    batch = int(context.get_property("batch_size", "32"))
    tf1.disable_eager_execution()
    cluster = tf1.train.ClusterSpec(context.get_tf_cluster())
    server = tf1.train.Server(cluster, job_name=role, task_index=index)
    if role == "ps":
        server.join()
        return
    with tf1.device(f"/job:worker/task:{index}"):
        nxt = tf1.data.make_one_shot_iterator(context.get_dataset(batch_size=batch)).get_next()
    with tf1.device(tf1.train.replica_device_setter(worker_device=f"/job:worker/task:{index}", cluster=cluster)):
        x = tf1.placeholder(tf.float32, [None, len(FEATURES)])
        y = tf1.placeholder(tf.float32, [None])
        w = tf1.get_variable("w", [len(FEATURES), 1], initializer=tf1.zeros_initializer())
        b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer())
        loss = tf.reduce_mean(tf.square(tf.squeeze(tf.matmul(x, w), 1) + b - y))
        step = tf1.train.get_or_create_global_step()
        train = tf1.train.GradientDescentOptimizer(lr).minimize(loss, global_step=step)
    config = tf1.ConfigProto(device_filters=["/job:ps", f"/job:worker/task:{index}"])
    rows, losses, ids = 0, [], []
    if index != 0:  # start once the chief has initialised the variables (not TF's 30 s poll)
        wait_until_initialized(server.target, config)
    with tf1.train.MonitoredTrainingSession(
        master=server.target, is_chief=index == 0, config=config, save_summaries_steps=None, log_step_count_steps=None
    ) as sess:
        while True:
            try:
                cols = sess.run(nxt)
            except tf.errors.OutOfRangeError:
                break
            feats = list(zip(*[cols[f] for f in FEATURES], strict=True))
            _, loss_value = sess.run([train, loss], {x: feats, y: cols["label"]})
            rows += len(cols["label"])
            ids += [int(i) for i in cols["id"]]
            losses.append(float(loss_value))
    print(f"worker {index}: consumed {rows} rows, loss {losses[0]:.4f} -> {losses[-1]:.4f}", flush=True)
    out = context.get_checkpoint_dir()
    if out:
        os.makedirs(out, exist_ok=True)
        json.dump(
            {"rows": rows, "first_loss": losses[0], "last_losses": losses[-10:], "ids": ids},
            open(os.path.join(out, f"worker-{index}.json"), "w"),
        )
