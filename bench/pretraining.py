"""Pretraining step throughput and model FLOPs utilization (MFU) of a BERT-Base config.

One training step = forward, backward and the original AdamWeightDecay update with the original losses
(masked LM on `max_predictions_per_seq` positions, next sentence), on random token ids at seq 128.
MFU = achieved model FLOP/s / peak FLOP/s, where model FLOPs per example = 3 x forward FLOPs (forward +
backward), and the peak is a large matmul of the same dtype measured in the same run on this machine.

  python bench/pretraining.py                                 # TensorFlow, CPU, float32 + mixed_bfloat16
  KERAS_BACKEND=jax python bench/pretraining.py --backend_only  # the same step under JAX (e.g. a GPU)

With KERAS_BACKEND=jax the step is `jax.jit`-compiled through Keras' stateless API (no TensorFlow
needed), with an Adam-without-bias-correction update written in keras.ops (the original's update).
"""
import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bert_tf  # noqa: E402

BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)


def forward_flops_per_example(config, seq_length, predictions):
    hidden, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    encoder = layers * (2 * seq_length * (4 * hidden * hidden + 2 * hidden * inter)
                        + 4 * seq_length * seq_length * hidden)
    heads = 2 * predictions * (hidden * hidden + hidden * config["vocab_size"]) + 2 * hidden * hidden
    return encoder + heads


def random_batch(batch_size, seq_length, predictions, vocab_size, seed=0):
    rng = np.random.RandomState(seed)
    return {
        "input_ids": rng.randint(1000, vocab_size, size=(batch_size, seq_length)).astype(np.int32),
        "input_mask": np.ones((batch_size, seq_length), np.int32),
        "segment_ids": (np.arange(seq_length)[None, :] >= seq_length // 2).repeat(batch_size, 0).astype(np.int32),
        "masked_lm_positions": np.sort(rng.choice(np.arange(1, seq_length), size=(batch_size, predictions)),
                                       axis=1).astype(np.int32),
        "masked_lm_ids": rng.randint(1000, vocab_size, size=(batch_size, predictions)).astype(np.int32),
        "masked_lm_weights": np.ones((batch_size, predictions), np.float32),
        "next_sentence_labels": rng.randint(0, 2, size=(batch_size, 1)).astype(np.int32),
    }


def peak_matmul_flops(dtype, repeats=5):
    """GFLOP/s of a [4096, 768] x [768, 3072] matmul in `dtype` (the encoder's biggest shape)."""
    from keras import ops

    compute_dtype = "bfloat16" if "bfloat16" in dtype else ("float16" if "float16" in dtype else "float32")
    a = ops.cast(np.random.rand(4096, 768).astype(np.float32), compute_dtype)
    b = ops.cast(np.random.rand(768, 3072).astype(np.float32), compute_dtype)
    if keras.backend.backend() == "jax":
        import jax

        matmul = jax.jit(lambda x, y: x @ y)
        block = lambda value: value.block_until_ready()  # noqa: E731
    else:
        import tensorflow as tf

        matmul = tf.function(lambda x, y: tf.matmul(x, y), autograph=False)
        block = lambda value: value.numpy()  # noqa: E731
    block(matmul(a, b))
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(matmul(a, b))
        timings.append(time.perf_counter() - start)
    return 2 * 4096 * 768 * 3072 / min(timings) / 1e9


def tensorflow_step(model, dtype, jit_compile):
    import tensorflow as tf

    from bert_tf.tasks.pretraining import run as pretrain
    from bert_tf.training.optimization import OptimizerConfig, create_optimizer

    optimizer = create_optimizer(OptimizerConfig(learning_rate=1e-4, num_train_steps=10000, num_warmup_steps=100))
    if dtype == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)

    @tf.function(jit_compile=jit_compile)
    def step(batch):
        with tf.GradientTape() as tape:
            outputs = model(batch, training=True)
            loss = pretrain.pretraining_loss(outputs, batch)["loss"]
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return loss

    def run(batch):
        return float(step(batch).numpy())

    return run


def jax_step(model):
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    moments = [(jnp.zeros_like(v), jnp.zeros_like(v)) for v in trainable]
    decays = [not any(key in v.path for key in ("LayerNorm", "bias")) for v in model.trainable_variables]

    def loss_fn(trainable_values, non_trainable_values, batch):
        outputs, non_trainable_values = model.stateless_call(trainable_values, non_trainable_values, batch,
                                                             training=True)
        log_probs = outputs["masked_lm_log_probs"]
        nll = -jnp.take_along_axis(log_probs, batch["masked_lm_ids"][..., None], axis=2)[..., 0]
        weights = batch["masked_lm_weights"]
        mlm = jnp.sum(weights * nll) / (jnp.sum(weights) + 1e-5)
        nsp = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(outputs["next_sentence_logits"]),
                                            batch["next_sentence_labels"], axis=1))
        return mlm + nsp, non_trainable_values

    @jax.jit
    def step(state, batch):
        trainable_values, non_trainable_values, moment_values = state
        (loss, non_trainable_values), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable_values, non_trainable_values, batch)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads))
        scale = jnp.minimum(1.0, 1.0 / (norm + 1e-12))
        new_values, new_moments = [], []
        for value, grad, (m, v), decay in zip(trainable_values, grads, moment_values, decays):
            grad = grad * scale
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad * grad
            update = m / (jnp.sqrt(v) + 1e-6) + (0.01 * value if decay else 0.0)
            new_values.append(value - 1e-4 * update)
            new_moments.append((m, v))
        return (new_values, non_trainable_values, new_moments), loss

    state = [trainable, non_trainable, moments]

    def run(batch):
        state[:], loss = step(tuple(state), batch)
        return float(loss)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--dtypes", default="float32,mixed_bfloat16")
    parser.add_argument("--jit", default="false", help="TensorFlow only: comma list of jit_compile settings")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up steps")
    parser.add_argument("--backend_only", action="store_true", help="skip nothing; kept for symmetric commands")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="hidden and attention-probability dropout (0 shows what the dropout masks cost)")
    parser.add_argument("--nominal_peak_tflops", default="",
                        help="dtype=TFLOP/s pairs, e.g. 'float32=67,mixed_bfloat16=989' (an H200's datasheet "
                             "dense figures): adds an MFU column against them")
    parser.add_argument("--jax_matmul_precision", default="highest",
                        help="JAX only: float32 matmul precision ('highest' = true float32; 'default' lets "
                             "GPUs use TF32)")
    args = parser.parse_args()

    backend = keras.backend.backend()
    nominal = {key: float(value) for key, value in
               (pair.split("=") for pair in args.nominal_peak_tflops.split(",") if pair)}
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", args.jax_matmul_precision)
    batch = random_batch(args.batch_size, args.seq_length, args.max_predictions_per_seq, BASE["vocab_size"])
    flops_per_example = 3 * forward_flops_per_example(BASE, args.seq_length, args.max_predictions_per_seq)
    device = platform.processor() or platform.machine()
    if backend == "jax":
        import jax

        device = str(jax.devices()[0].device_kind)
    print(f"# backend {backend}, device {device}, {os.cpu_count()} cores, keras {keras.__version__}; "
          f"BERT-Base, dropout {args.dropout}, batch {args.batch_size}, seq {args.seq_length}, "
          f"{args.max_predictions_per_seq} predictions")
    print("| backend | dtype | XLA | examples/s | model TFLOP/s | peak matmul TFLOP/s | MFU | MFU of nominal peak |")
    print("|---|---|---|---|---|---|---|---|")
    jit_settings = [True] if backend == "jax" else [value.strip().lower() == "true" for value in args.jit.split(",")]
    for dtype in args.dtypes.split(","):
        peak = peak_matmul_flops(dtype) / 1000
        for jit in jit_settings:
            config = bert_tf.BertConfig(**BASE, hidden_dropout_prob=args.dropout,
                                        attention_probs_dropout_prob=args.dropout)
            model = bert_tf.BertPretrainingModel(config, dtype=dtype)
            run = jax_step(model) if backend == "jax" else tensorflow_step(model, dtype, jit)
            for _ in range(2):
                run(batch)
            timings = []
            for _ in range(args.steps):
                start = time.perf_counter()
                run(batch)
                timings.append(time.perf_counter() - start)
            seconds = statistics.median(timings)
            achieved = flops_per_example * args.batch_size / seconds / 1e12
            print(f"| {backend} | {dtype} | {jit} | {args.batch_size / seconds:.2f} | {achieved:.3f} | "
                  f"{peak:.3f} | {achieved / peak:.0%} | "
                  f"{f'{achieved / nominal[dtype]:.1%}' if dtype in nominal else '-'} |", flush=True)


if __name__ == "__main__":
    main()
