"""Distributed prediction: the ps hold the linear example's checkpoint, workers score rows.

The chief restores the latest checkpoint of spec.checkpointDir into the ps (no new ones are
written); every worker reads its rows from Flink and writes one {"id", "prediction"} per row
back into the Flink stream (spec.output sinks them).
"""

import tensorflow as tf

from tfflink.tf import wait_until_initialized

tf1 = tf.compat.v1


def map_func(context):
    role, index = context.get_role_name(), context.get_index()
    features = int(context.get_property("features", "10"))
    tf1.disable_eager_execution()
    cluster = tf1.train.ClusterSpec(context.get_tf_cluster())
    server = tf1.train.Server(cluster, job_name=role, task_index=index)
    if role == "ps":
        server.join()
        return
    names = [f"f{i}" for i in range(features)]
    with tf1.device(f"/job:worker/task:{index}"):
        nxt = tf1.data.make_one_shot_iterator(context.get_dataset(batch_size=256)).get_next()
        x = tf.stack([nxt[n] for n in names], axis=1)
    with tf1.device(tf1.train.replica_device_setter(worker_device=f"/job:worker/task:{index}", cluster=cluster)):
        w = tf1.get_variable("w", [features, 1])
        b = tf1.get_variable("b", [1])
        tf1.train.get_or_create_global_step()
        pred = tf.squeeze(tf.matmul(x, w) + b, axis=1)
    config = tf1.ConfigProto(device_filters=["/job:ps", f"/job:worker/task:{index}"])
    writer = context.get_writer()
    if index != 0:  # start once the chief has restored the variables (not TF's 30 s poll)
        wait_until_initialized(server.target, config)
    with tf1.train.MonitoredTrainingSession(
        master=server.target,
        is_chief=index == 0,
        checkpoint_dir=context.get_checkpoint_dir(),
        save_checkpoint_secs=None,
        save_checkpoint_steps=None,
        save_summaries_steps=None,
        log_step_count_steps=None,
        config=config,
    ) as sess:
        while True:
            try:
                ids, p = sess.run([nxt["id"], pred])
            except tf.errors.OutOfRangeError:
                break
            writer.write([{"id": int(i), "prediction": float(v)} for i, v in zip(ids, p, strict=True)])
