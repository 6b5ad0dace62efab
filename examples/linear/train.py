"""Linear regression trained by workers against a parameter server, through tfflink.

Between-graph replication with tf.compat.v1: the variables live on the ps, every worker
trains on its own shard (generated here from a seed, as a real job would read its own
files), worker 0 is the chief: it checkpoints to spec.checkpointDir, so a restarted
cluster resumes at the saved global step, and at the end it exports a SavedModel and
writes metrics.json (loss at the start and at the end, measured on a fixed eval set).
Every worker reports its step and loss (context.report); the chief also the last checkpoint's.

Properties (spec.properties): steps, features, batch_size, learning_rate, step_delay.
"""

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from tfflink.tf import wait_until_initialized

tf1 = tf.compat.v1


def true_model(features):
    rng = np.random.default_rng(1234)
    return rng.normal(size=(features, 1)).astype(np.float32), np.float32(0.5)


def shard(features, index, rows=4096):
    """This worker's share of the data: y = x.w + b + noise."""
    w, b = true_model(features)
    rng = np.random.default_rng(100 + index)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = x @ w + b + rng.normal(scale=0.05, size=(rows, 1)).astype(np.float32)
    return x, y


def export_saved_model(ckpt_dir, export_dir, features):
    """Rebuild the model eagerly from the last checkpoint and save it with a serving signature."""
    reader = tf.train.load_checkpoint(ckpt_dir)

    class Linear(tf.Module):
        def __init__(self):
            self.w = tf.Variable(reader.get_tensor("w"))
            self.b = tf.Variable(reader.get_tensor("b"))

        @tf.function(input_signature=[tf.TensorSpec([None, features], tf.float32, name="x")])
        def serve(self, x):
            return {"prediction": tf.squeeze(tf.matmul(x, self.w) + self.b, axis=1)}

    model = Linear()
    tf.saved_model.save(model, export_dir, signatures={"serving_default": model.serve})


def write_metrics(ckpt_dir, keep=False, **values):
    """Merge values into checkpointDir/metrics.json; with keep, values already there win."""
    path = os.path.join(ckpt_dir, "metrics.json")
    metrics = json.load(open(path)) if os.path.exists(path) else {}
    metrics.update({k: v for k, v in values.items() if not (keep and k in metrics)})
    os.makedirs(ckpt_dir, exist_ok=True)
    json.dump(metrics, open(path, "w"))
    return metrics


def last_checkpoint_step(ckpt_dir):
    """The global step of the newest checkpoint in ckpt_dir (None: none yet)."""
    path = tf1.train.latest_checkpoint(ckpt_dir) if ckpt_dir else None
    return int(path.rsplit("-", 1)[1]) if path else None


def map_func(context):
    role, index = context.get_role_name(), context.get_index()
    steps = int(context.get_property("steps", "300"))
    features = int(context.get_property("features", "10"))
    batch = int(context.get_property("batch_size", "64"))
    lr = float(context.get_property("learning_rate", "0.05"))
    delay = float(context.get_property("step_delay", "0"))
    ckpt_dir = context.get_checkpoint_dir()

    graph = tf.Graph()
    with graph.as_default():
        cluster = tf1.train.ClusterSpec(context.get_tf_cluster())
        server = tf1.train.Server(cluster, job_name=role, task_index=index)
        if role == "ps":
            server.join()  # serves variables until the AM stops it
            return
        with tf1.device(tf1.train.replica_device_setter(worker_device=f"/job:worker/task:{index}", cluster=cluster)):
            x = tf1.placeholder(tf.float32, [None, features], name="x")
            y = tf1.placeholder(tf.float32, [None, 1], name="y")
            w = tf1.get_variable("w", [features, 1], initializer=tf1.zeros_initializer())
            b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer())
            loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
            step = tf1.train.get_or_create_global_step()
            train = tf1.train.GradientDescentOptimizer(lr).minimize(loss, global_step=step)

        xs, ys = shard(features, index)
        ex, ey = shard(features, 999, rows=1024)  # fixed eval set, the same on every worker
        config = tf1.ConfigProto(device_filters=["/job:ps", f"/job:worker/task:{index}"])
        chief = index == 0
        hooks = [tf1.train.StopAtStepHook(last_step=steps)]
        if not chief:  # start once the chief has initialised the variables (not TF's 30 s poll)
            wait_until_initialized(server.target, config)
        with tf1.train.MonitoredTrainingSession(
            master=server.target,
            is_chief=chief,
            checkpoint_dir=ckpt_dir if chief else None,
            save_checkpoint_steps=25 if chief else None,
            save_summaries_steps=None,
            log_step_count_steps=None,
            config=config,
            hooks=hooks,
        ) as sess:
            start_loss = None
            rng = np.random.default_rng(index)
            while not sess.should_stop():
                if start_loss is None:
                    start_step, start_loss = sess.run([step, loss], {x: ex, y: ey})
                    print(
                        f"start: global step {start_step} eval loss {start_loss:.6f} time {time.time():.3f}", flush=True
                    )
                    if chief and ckpt_dir:  # the first run's start loss is kept across restarts
                        write_metrics(ckpt_dir, keep=True, start_loss=float(start_loss), start_step=int(start_step))
                    continue  # the eval run may have seen the last step: ask should_stop again
                i = rng.integers(0, len(xs) - batch)
                _, g, batch_loss = sess.run([train, step, loss], {x: xs[i : i + batch], y: ys[i : i + batch]})
                if g % 10 == 0:  # the AM shows the step and steps/s (tfflink run, kubectl get tfj)
                    context.report(
                        g, checkpoint_step=last_checkpoint_step(ckpt_dir) if chief else None, loss=float(batch_loss)
                    )
                if g % 50 == 0:
                    print(f"step {g} time {time.time():.3f}", flush=True)
                if delay:
                    time.sleep(delay)
        with tf1.Session(server.target, config=config) as plain:  # the variables live on in the ps
            end_step, end_loss = plain.run([step, loss], {x: ex, y: ey})
        print(f"end: global step {end_step} eval loss {end_loss:.6f}", flush=True)

    if chief and ckpt_dir:
        export_saved_model(ckpt_dir, os.path.join(ckpt_dir, "saved_model"), features)
        metrics = write_metrics(ckpt_dir, end_loss=float(end_loss), end_step=int(end_step))
        print(f"exported SavedModel to {ckpt_dir}/saved_model; metrics {metrics}", flush=True)
    sys.stdout.flush()
