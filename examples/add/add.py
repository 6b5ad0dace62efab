"""The seed's "add" example: TF1 graph code on a ps/worker cluster, via tf.compat.v1.

Only the TF1 -> tf.compat.v1 renames differ from the original; the cluster comes from the
TFContext instead of a hand-written ClusterSpec.
"""

import sys
import time

import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()


def build_graph():
    global a
    i = 1
    a = tf1.placeholder(tf.float32, shape=None, name="a")
    b = tf.reduce_mean(a, name="b")
    r_list = []
    v = tf1.Variable(dtype=tf.float32, initial_value=tf.constant(1.0), name="v_" + str(i))
    c = tf.add(b, v, name="c_" + str(i))
    add = tf1.assign(v, c, name="assign_" + str(i))
    tf1.summary.scalar(name="sum_" + str(i), tensor=c)
    r_list.append(add)
    global_step = tf1.train.get_or_create_global_step()
    global_step_inc = tf1.assign_add(global_step, 1)
    r_list.append(global_step_inc)
    return r_list


def map_func(context):
    job_name = context.get_role_name()
    index = context.get_index()
    cluster_json = context.get_tf_cluster()
    cluster = tf1.train.ClusterSpec(cluster=cluster_json)
    server = tf1.train.Server(cluster, job_name=job_name, task_index=index)
    sess_config = tf1.ConfigProto(
        allow_soft_placement=True,
        log_device_placement=False,
        device_filters=["/job:ps", f"/job:worker/task:{index}"],
    )
    t = time.time()
    if "ps" == job_name:
        server.join()  # serves until the AM stops it once the workers are done
    else:
        with tf1.device(
            tf1.train.replica_device_setter(worker_device="/job:worker/task:" + str(index), cluster=cluster)
        ):
            train_ops = build_graph()
        hooks = [tf1.train.StopAtStepHook(last_step=2)]
        checkpoint_dir = (context.get_checkpoint_dir() or "./target/tmp/s1") + "/" + str(t)
        with tf1.train.MonitoredTrainingSession(
            master=server.target,
            config=sess_config,
            checkpoint_dir=checkpoint_dir + "/worker-" + str(index),
            hooks=hooks,
        ) as mon_sess:
            while not mon_sess.should_stop():
                print(mon_sess.run(train_ops, feed_dict={a: [1.0, 2.0, 3.0]}))
                sys.stdout.flush()
