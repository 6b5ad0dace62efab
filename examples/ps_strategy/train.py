"""Linear regression with tf.distribute.experimental.ParameterServerStrategy (TF2, eager).

The chief is the coordinator: it creates the variables (placed on the ps), schedules training
steps on the workers through a ClusterCoordinator, checkpoints to spec.checkpointDir after
every round (a restarted cluster resumes from the last one) and reports the step, the loss
and the checkpoint's step (context.report) and, with spec.tensorboard, writes the loss as a
TensorBoard scalar. Workers and ps only serve (tf.distribute.Server) until the AM stops
them. The evaluator scores every new checkpoint on a fixed eval set (scalar eval_loss).

Keras' model.fit with ParameterServerStrategy needs Keras 2 (tf_keras); the pinned Keras 3
does not support it, so the steps are a custom training loop, as in TF's guide.

Properties (spec.properties): steps, steps_per_round, features, batch_size, learning_rate,
round_delay (seconds the chief pauses after each round: a slow job to watch or interrupt).
"""

import json
import os
import time

import numpy as np
import tensorflow as tf


def true_model(features):
    rng = np.random.default_rng(1234)
    return rng.normal(size=(features, 1)).astype(np.float32), np.float32(0.5)


def shard(features, seed, rows=4096):
    """Data y = x.w + b + noise, generated from a seed as a real job reads its own files."""
    w, b = true_model(features)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = x @ w + b + rng.normal(scale=0.05, size=(rows, 1)).astype(np.float32)
    return x, y


def linear_state(features):
    """The model's variables and the global step, in one checkpointable object."""
    return tf.train.Checkpoint(
        w=tf.Variable(tf.zeros([features, 1]), name="w"),
        b=tf.Variable(tf.zeros([1]), name="b"),
        step=tf.Variable(0, dtype=tf.int64, name="step"),
    )


def mse(state, x, y):
    return tf.reduce_mean(tf.square(tf.matmul(x, state.w) + state.b - y))


def summary_writer(context, name):
    """A tf.summary writer under spec.tensorboard.logDir/name (None without TensorBoard)."""
    log_dir = context.get_tensorboard_dir()
    return tf.summary.create_file_writer(os.path.join(log_dir, name)) if log_dir else None


def scalar(writer, name, value, step):
    if writer is not None:
        with writer.as_default():
            tf.summary.scalar(name, value, step=step)
        writer.flush()


def update_json(path, keep=False, **values):
    """Merge values into a JSON file; with keep, values already there win."""
    data = json.load(open(path)) if os.path.exists(path) else {}
    data.update({k: v for k, v in values.items() if not (keep and k in data)})
    json.dump(data, open(path, "w"))
    return data


def map_func(context):
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()  # TF_CONFIG, set by tfflink
    role = context.get_role_name()
    if role in ("worker", "ps"):
        server = tf.distribute.Server(
            resolver.cluster_spec(), job_name=role, task_index=context.get_index(), protocol="grpc", start=True
        )
        server.join()  # until the AM stops this node (the chief's end)
    elif role == "evaluator":
        evaluate(context)
    else:
        coordinate(context, resolver)


def coordinate(context, resolver):
    steps = int(context.get_property("steps", "300"))
    per_round = int(context.get_property("steps_per_round", "30"))
    features = int(context.get_property("features", "10"))
    batch = int(context.get_property("batch_size", "64"))
    lr = float(context.get_property("learning_rate", "0.05"))
    delay = float(context.get_property("round_delay", "0"))
    ckpt_dir = context.get_checkpoint_dir()

    strategy = tf.distribute.experimental.ParameterServerStrategy(resolver)
    coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
    with strategy.scope():
        state = linear_state(features)
    manager = tf.train.CheckpointManager(state, ckpt_dir, max_to_keep=3)
    manager.restore_or_initialize()  # a restarted cluster resumes here

    def dataset_fn(input_context):
        x, y = shard(features, 100 + input_context.input_pipeline_id)
        return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(4096).repeat().batch(batch)

    def per_worker_dataset_fn():  # runs on each worker: its own shard
        return strategy.distribute_datasets_from_function(dataset_fn)

    iterator = iter(coordinator.create_per_worker_dataset(per_worker_dataset_fn))

    @tf.function
    def train_step(it):
        def replica_fn(x, y):
            with tf.GradientTape() as tape:
                loss = mse(state, x, y)
            gw, gb = tape.gradient(loss, [state.w, state.b])
            state.w.assign_sub(lr * gw)
            state.b.assign_sub(lr * gb)
            state.step.assign_add(1)
            return loss

        x, y = next(it)
        return strategy.run(replica_fn, args=(x, y))

    ex, ey = shard(features, 999, rows=1024)  # fixed eval set
    start_step, start_loss = int(state.step.numpy()), float(mse(state, ex, ey))
    print(f"start: step {start_step} eval loss {start_loss:.6f}", flush=True)
    os.makedirs(ckpt_dir, exist_ok=True)
    metrics_path = os.path.join(ckpt_dir, "metrics.json")
    update_json(metrics_path, keep=True, start_loss=start_loss, start_step=start_step)  # the first run's
    writer = summary_writer(context, "train")
    step = start_step
    while step < steps:
        for _ in range(min(per_round, steps - step)):
            coordinator.schedule(train_step, args=(iterator,))
        coordinator.join()
        step = int(state.step.numpy())
        manager.save(checkpoint_number=step)
        loss = float(mse(state, ex, ey))
        context.report(step, checkpoint_step=step, loss=loss)
        scalar(writer, "loss", loss, step)
        print(f"step {step} eval loss {loss:.6f} time {time.time():.3f}", flush=True)
        time.sleep(delay)
    metrics = update_json(metrics_path, end_loss=float(mse(state, ex, ey)), end_step=step)
    print(f"end: {metrics}", flush=True)


def evaluate(context, poll_seconds=0.5):
    """Score each new checkpoint until the AM stops this node (when the chief ends)."""
    features = int(context.get_property("features", "10"))
    ckpt_dir = context.get_checkpoint_dir()
    ex, ey = shard(features, 999, rows=1024)
    state, seen = linear_state(features), None
    writer = summary_writer(context, "eval")
    while True:
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest and latest != seen:
            try:
                state.restore(latest).expect_partial()
            except tf.errors.NotFoundError:  # deleted meanwhile (max_to_keep): take the next one
                continue
            seen, step, loss = latest, int(state.step.numpy()), float(mse(state, ex, ey))
            context.report(step, eval_loss=loss)
            scalar(writer, "eval_loss", loss, step)
            update_json(os.path.join(ckpt_dir, "eval.json"), **{str(step): loss})
            print(f"evaluated checkpoint of step {step}: eval loss {loss:.6f}", flush=True)
        time.sleep(poll_seconds)
