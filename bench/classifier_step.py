"""Time one fine-tuning step of `BertClassifier` and its parts, on one fixed batch.

Builds the classifier from a `bert_config.json` (random weights; the MiniLM checkpoint's config by
default), a batch of `--batch_size` x `--seq_length` random token ids, and times, each as one
`tf.function` (median of `--repeats` calls after 2 warm-up calls):

* `forward (eval)`: logits without dropout;
* `forward (train)`: logits with dropout;
* `forward + backward`: the gradients of the cross-entropy loss;
* `step`: forward, backward and the original AdamWeightDecay update (clipping included).

To compare two versions of the code, run it from each checkout with `PYTHONPATH` pointing there:

  TF_ENABLE_ONEDNN_OPTS=1 python bench/classifier_step.py --seq_length=64
  git worktree add /tmp/old <commit> && TF_ENABLE_ONEDNN_OPTS=1 PYTHONPATH=/tmp/old python bench/classifier_step.py
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import timing  # noqa: E402  (bench/timing.py)

import bert_tf  # noqa: E402
from bert_tf.training import optimization  # noqa: E402

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))
DEFAULT_CONFIG = os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased", "bert_config.json")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bert_config_file", default=DEFAULT_CONFIG)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--dtype", default="float32", help="float32 or mixed_bfloat16 (the model's dtype policy)")
    return parser.parse_args(argv)


def median_seconds(function, repeats: int) -> float:
    """Median seconds of one call of the `tf.function` `function`, its outputs fetched."""
    return timing.median_seconds(
        lambda: tf.nest.map_structure(lambda value: value.numpy(), function()), repeats)


def step_functions(args) -> dict:
    """{"name": tf.function} for the four timed parts of a step."""
    config = bert_tf.BertConfig.from_json_file(args.bert_config_file)
    model = bert_tf.BertClassifier(config, num_labels=2, dtype=args.dtype)
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.seq_length)
    features = {
        "input_ids": tf.constant(rng.integers(1000, config.vocab_size, shape), tf.int32),
        "input_mask": tf.ones(shape, tf.int32),
        "segment_ids": tf.zeros(shape, tf.int32),
    }
    labels = tf.constant(rng.integers(0, 2, (args.batch_size,)), tf.int32)
    optimizer = optimization.create_optimizer(
        optimization.OptimizerConfig(learning_rate=2e-5, num_train_steps=1000, num_warmup_steps=100))
    variables = model.trainable_variables

    def loss(training):
        logits = tf.cast(model(features, training=training)["logits"], tf.float32)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    def gradients():
        with tf.GradientTape() as tape:
            value = loss(True)
        grads = tape.gradient(value, variables)
        return value, [tf.convert_to_tensor(grad) for grad in grads]  # the embedding's IndexedSlices too

    def step():
        value, grads = gradients()
        optimizer.apply(grads, variables)
        return value

    return {
        "forward (eval)": tf.function(lambda: loss(False)),
        "forward (train)": tf.function(lambda: loss(True)),
        "forward + backward": tf.function(gradients),
        "step": tf.function(step),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"# BertClassifier, {os.path.basename(os.path.dirname(args.bert_config_file))} config, batch "
          f"{args.batch_size} x seq {args.seq_length}, {args.dtype}, median of {args.repeats}; bert_tf from "
          f"{os.path.dirname(bert_tf.__file__)}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    print("\n| part | ms | examples/s |\n|---|---|---|")
    for name, function in step_functions(args).items():
        seconds = median_seconds(function, args.repeats)
        print(f"| {name} | {seconds * 1000:.0f} | {args.batch_size / seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
