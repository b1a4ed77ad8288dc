"""The peer of `bench/pretraining.py`: Hugging Face PyTorch `BertForPreTraining`, same config, batch and step.

One training step = forward, backward (masked LM over the batch's `max_predictions_per_seq` masked
positions, labels -100 elsewhere, and next sentence) and torch's fused AdamW with gradient clipping at 1.0,
on random token ids. `--dtypes` float32 and/or bfloat16 (autocast, float32 weights: what mixed_bfloat16 is
on our side). Prints rows of the same table as `bench/pretraining.py`, counting the same model FLOPs, so
the two tables compare directly. Needs torch and transformers (the optional `bench` extra); a GPU if there
is one, else the CPU.

  python bench/pretraining_torch_peer.py --batch_size=64 --dtypes=float32,bfloat16
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

# The shared config, FLOP count and batch come from bench/pretraining.py, which imports keras: its numpy
# backend keeps TensorFlow (which can crash next to torch) and JAX out of this process.
os.environ["KERAS_BACKEND"] = "numpy"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pretraining import BASE, forward_flops_per_example, random_batch  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after 3 warm-up steps")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="hidden and attention-probability dropout (0 shows what the dropout masks cost)")
    parser.add_argument("--nominal_peak_tflops", default="",
                        help="dtype=TFLOP/s pairs, e.g. 'float32=67,bfloat16=989' (an H200's datasheet dense "
                             "figures): MFU against them")
    args = parser.parse_args()

    import torch
    import transformers

    nominal = {key: float(value) for key, value in
               (pair.split("=") for pair in args.nominal_peak_tflops.split(",") if pair)}

    device = "cuda" if torch.cuda.is_available() else "cpu"
    device_name = torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, as on our side
    torch.backends.cudnn.allow_tf32 = False
    arrays = random_batch(args.batch_size, args.seq_length, args.max_predictions_per_seq, BASE["vocab_size"])
    labels = np.full((args.batch_size, args.seq_length), -100, np.int64)
    np.put_along_axis(labels, arrays["masked_lm_positions"], arrays["masked_lm_ids"], axis=1)
    batch = {
        "input_ids": torch.from_numpy(arrays["input_ids"].astype(np.int64)).to(device),
        "attention_mask": torch.from_numpy(arrays["input_mask"].astype(np.int64)).to(device),
        "token_type_ids": torch.from_numpy(arrays["segment_ids"].astype(np.int64)).to(device),
        "labels": torch.from_numpy(labels).to(device),
        "next_sentence_label": torch.from_numpy(arrays["next_sentence_labels"][:, 0].astype(np.int64)).to(device),
    }
    flops_per_example = 3 * forward_flops_per_example(BASE, args.seq_length, args.max_predictions_per_seq)
    print(f"# peer: torch {torch.__version__}, transformers {transformers.__version__}, {device_name}; "
          f"BERT-Base, dropout {args.dropout}, batch {args.batch_size}, seq {args.seq_length}, "
          f"{args.max_predictions_per_seq} predictions")
    print("| peer | dtype | examples/s | model TFLOP/s | MFU of nominal peak |")
    print("|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        config = transformers.BertConfig(vocab_size=BASE["vocab_size"], hidden_size=BASE["hidden_size"],
                                         num_hidden_layers=BASE["num_hidden_layers"],
                                         num_attention_heads=BASE["num_attention_heads"],
                                         intermediate_size=BASE["intermediate_size"],
                                         max_position_embeddings=BASE["max_position_embeddings"],
                                         type_vocab_size=BASE["type_vocab_size"],
                                         hidden_dropout_prob=args.dropout,
                                         attention_probs_dropout_prob=args.dropout)
        model = transformers.BertForPreTraining(config).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6,
                                      fused=device == "cuda")

        def step():
            with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return float(loss.detach())  # waits for the step, as the JAX and TF benches do

        for _ in range(3):
            step()
        timings = []
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            timings.append(time.perf_counter() - start)
        seconds = statistics.median(timings)
        achieved = flops_per_example * args.batch_size / seconds / 1e12
        mfu = f"{achieved / nominal[dtype]:.1%}" if dtype in nominal else "-"
        print(f"| HF BertForPreTraining | {dtype} | {args.batch_size / seconds:.1f} | {achieved:.1f} | {mfu} |",
              flush=True)


if __name__ == "__main__":
    main()
