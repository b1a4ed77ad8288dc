"""The Hugging Face PyTorch peer of the benches (imported from their own folder): converted weights, the
peer's models, and running it in a process of its own.

The peer always starts from the same pretrained weights as ours: the released checkpoint's encoder is
written under Hugging Face's parameter names to a `.npz` file (`write_peer_weights`) that the peer process
loads (`peer_model`); only the task head is the peer's own. TensorFlow and torch never share a process
(importing both can crash), so the peer runs as `--peer_python <bench script> --peer_worker=<folder> ...`
and prints one JSON line (`run_peer_worker`).
"""
import json
import os
import subprocess

import numpy as np


def peer_name(name: str, pooler: bool = False):
    """A `bert/...` checkpoint name -> (Hugging Face parameter name, transpose) or None (not in the peer;
    `bert/pooler/*` only with `pooler`)."""
    if not name.startswith("bert/") or name.endswith(("adam_m", "adam_v")):
        return None
    if name.startswith("bert/pooler/") and not pooler:
        return None
    parts = name.split("/")
    transpose = parts[-1] == "kernel"
    parts[-1] = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(parts[-1], parts[-1])
    if parts[1] == "embeddings" and parts[2] != "LayerNorm":
        parts.append("weight")
    converted = []
    for part in parts:
        converted.extend(part.split("_", 1) if part.startswith("layer_") else [part])
    return ".".join(converted), transpose


def write_peer_weights(bert_dir: str, path: str, pooler: bool = False) -> None:
    """The checkpoint's encoder (and, with `pooler`, `bert/pooler/*`) as Hugging Face parameters in `path`."""
    import tensorflow as tf

    from bert_tf.checkpoint import list_checkpoint, resolve_checkpoint

    prefix = resolve_checkpoint(bert_dir)
    reader = tf.train.load_checkpoint(prefix)
    arrays = {}
    for name in list_checkpoint(prefix):
        mapped = peer_name(name, pooler)
        if mapped:
            value = reader.get_tensor(name)
            arrays[mapped[0]] = np.ascontiguousarray(value.T if mapped[1] else value)
    np.savez(path, **arrays)


def peer_model(bert_config_file: str, weights_file: str, model_class: str, head_prefixes, **config_overrides):
    """Hugging Face PyTorch `transformers.<model_class>` with the converted weights; only parameters starting
    with one of `head_prefixes` may be left at the peer's own initialization (they are the task head)."""
    import torch
    import transformers

    config = transformers.BertConfig.from_json_file(bert_config_file)
    if config.hidden_act == "gelu":
        config.hidden_act = "gelu_new"  # the original's (and bert_tf's) tanh approximation
    config.layer_norm_eps = 1e-12
    for key, value in config_overrides.items():
        setattr(config, key, value)
    model = getattr(transformers, model_class)(config)
    with np.load(weights_file) as arrays:
        missing, _ = model.load_state_dict({name: torch.from_numpy(arrays[name]) for name in arrays.files},
                                           strict=False)
    left_out = [name for name in missing if not name.startswith(tuple(head_prefixes))
                and not name.endswith("position_ids")]
    if left_out:
        raise ValueError(f"peer conversion left {left_out[:3]} uninitialized")
    return model


def has_torch(python: str) -> bool:
    """Whether `python` can import torch and transformers."""
    check = ("import importlib.util as u, sys; "
             "sys.exit(0 if u.find_spec('torch') and u.find_spec('transformers') else 1)")
    return subprocess.run([python, "-c", check]).returncode == 0


def run_peer_worker(python: str, script: str, peer_folder: str, *arguments: str) -> dict:
    """Runs `script --peer_worker=<peer_folder> <arguments>` with `python` (torch, no TensorFlow); returns the
    JSON object of its last stdout line."""
    command = [python, os.path.abspath(script), f"--peer_worker={peer_folder}", *arguments]
    environment = dict(os.environ, USE_TF="0", USE_FLAX="0", USE_TORCH="1")
    completed = subprocess.run(command, capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"the peer failed ({' '.join(command)}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def random_rows(num_rows: int, batch_size: int, seed: int):
    """Endless random batches of row indexes: a new order each epoch, its last partial batch dropped."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(num_rows, generator=generator).tolist()
        for start in range(0, num_rows - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def train_peer_steps(model, batches, num_steps: int, learning_rate: float, warmup_steps: int = 2):
    """Trains the peer `num_steps` steps on `batches` (an iterator of model keyword arguments, `labels`
    included): torch AdamW (weight decay 0.01, not on biases and LayerNorm), linear warmup (10%) and decay,
    gradient clipping 1.0. Returns (seconds, examples) of the timed steps (all but the first `warmup_steps`)."""
    import time

    import torch
    import transformers

    no_decay = [parameter for name, parameter in model.named_parameters() if "bias" in name or "LayerNorm" in name]
    decay = [parameter for name, parameter in model.named_parameters() if not ("bias" in name or "LayerNorm" in name)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=learning_rate, eps=1e-6)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, int(num_steps * 0.1), num_steps)
    seconds, examples = 0.0, 0
    model.train()
    for step in range(num_steps):
        batch = next(batches)
        started = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup_steps:
            seconds += time.perf_counter() - started
            examples += len(batch["input_ids"])
    return seconds, examples
