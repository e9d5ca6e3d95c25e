"""Run a musicnn checkpoint's ORIGINAL TF1 graph (its .meta file) on log-mel patches, for the equivalence test.

Usage: python tf1_musicnn_reference.py INPUT.npy OUT_DIR CHECKPOINT_DIR [CHECKPOINT_DIR ...]
INPUT: float32 (n, 187, 96). Writes OUT_DIR/<checkpoint folder name>.npz: tags, penultimate (musicnn only),
pooled. Run in a subprocess: it switches TensorFlow to graph mode.
The graph loads in TF 2.x only after deleting every node's ``_output_shapes``.
"""

import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2


def main(ckpt_dir: str, inp: str, out: str) -> None:
    tf.compat.v1.disable_eager_execution()
    mg = meta_graph_pb2.MetaGraphDef()
    with open(ckpt_dir.rstrip("/") + "/.meta", "rb") as fh:
        mg.ParseFromString(fh.read())
    for node in mg.graph_def.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    for fn in mg.graph_def.library.function:
        for node in fn.node_def:
            if "_output_shapes" in node.attr:
                del node.attr["_output_shapes"]
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(mg, clear_devices=True)
        names = {"tags": "model/Sigmoid:0", "pooled": "model/Flatten/flatten/Reshape:0"}
        ops = {op.name for op in graph.get_operations()}
        if "model/batch_normalization_10/batchnorm/add_1" in ops:
            names["penultimate"] = "model/batch_normalization_10/batchnorm/add_1:0"
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, ckpt_dir.rstrip("/") + "/")
            x = np.load(inp)
            feed = {"model/Placeholder:0": x, "model/Placeholder_2:0": False}
            res = sess.run({k: graph.get_tensor_by_name(v) for k, v in names.items()}, feed_dict=feed)
    np.savez(out, **res)


if __name__ == "__main__":
    inp, out_dir, *dirs = sys.argv[1:]
    for d in dirs:
        main(d, inp, f"{out_dir}/{d.rstrip('/').split('/')[-1]}.npz")
