"""What every training script shares: the model files, the run options and the fine-tuning schedule.

One definition per option, so a flag means the same in `run_classifier.py`, `run_squad.py`, `run_ner.py`
and `run_pretraining.py` (the flags themselves are defined once in `bert_tf.cli`):

* `ModelFiles`: `bert_config.json`, `vocab.txt`, the initial checkpoint and the casing, filled from a
  released model folder by `resolve_model_files` (`--bert_dir`); `load_bert_config` and `load_tokenizer`
  read them with every check a user needs (the vocabulary against `vocab_size`, the special tokens, the
  casing of a released checkpoint). A Hugging Face folder or keras-hub preset as `--bert_dir` or
  `--init_checkpoint` is converted to the released format first (`bert_tf.interop`).
* `RunOptions`: output folder, `tf.distribute` strategy, dtype, XLA, seed, checkpoint cadence, export.
* `FineTuningOptions`: batch sizes, learning rate, epochs and warmup: the original's fine-tuning recipe
  and its `num_train_steps = int(num_examples / train_batch_size * num_train_epochs)`.

Every problem is an `InputError` naming the flag or file.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence, Tuple

from absl import logging

from bert_tf.errors import InputError, require_int

BERT_CONFIG_NAME = "bert_config.json"
VOCAB_NAME = "vocab.txt"
CHECKPOINT_NAME = "bert_model.ckpt"
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[UNK]")
# A cased vocabulary (bert-base-cased: 27%) has many entries starting with a capital letter; an uncased one none.
CASED_VOCAB_FRACTION = 0.01
# An uncased Latin-script vocabulary: at most this share of capitalized entries, at least this share of Latin words.
UNCASED_VOCAB_MAX_CAPITALIZED = 0.001
LATIN_VOCAB_FRACTION = 0.5


# ------------------------------------------------------------------------------------------------ model files
@dataclasses.dataclass
class ModelFiles:
    """A pretrained (or fine-tuned) model's files.

    Attributes:
      bert_config_file: the model's `bert_config.json`.
      vocab_file: its `vocab.txt`.
      init_checkpoint: a checkpoint prefix or folder to start from (None: random initialization).
      do_lower_case: lower-case and strip accents before WordPiece (uncased models).
    """

    bert_config_file: str
    vocab_file: str
    init_checkpoint: Optional[str] = None
    do_lower_case: bool = True


def resolve_model_files(bert_dir: Optional[str], bert_config_file: Optional[str] = None,
                        vocab_file: Optional[str] = None, init_checkpoint: Optional[str] = None,
                        do_lower_case: bool = True, checkpoint_required: bool = False,
                        conversion_dir: Optional[str] = None) -> ModelFiles:
    """The one `--bert_dir` rule: explicit flags win; the others come from the released model folder.

    `bert_config_file` -> `<bert_dir>/bert_config.json`, `vocab_file` -> `<bert_dir>/vocab.txt`,
    `init_checkpoint` -> the folder's checkpoint (`bert_model.ckpt` in a released folder, else the newest
    one named by its `checkpoint` file).

    Args:
      bert_dir: a released model folder, or None.
      bert_config_file, vocab_file, init_checkpoint: the explicit flags (None or "" when not given).
      do_lower_case: passed through.
      checkpoint_required: a missing checkpoint is an error (else `init_checkpoint` stays None).
      conversion_dir: where a Hugging Face folder or keras-hub preset given as `bert_dir` or `init_checkpoint` is
        converted to the released format (`bert_tf.interop.model_folder`; None: a temporary folder).
        `init_checkpoint` as such a folder also stands for `bert_dir` when that is not given.

    Raises:
      InputError: the folder or a needed file is missing; the message names the flag to set.
    """
    from bert_tf.checkpoint import CheckpointError, resolve_checkpoint
    from bert_tf.interop.model_folder import needs_conversion, released_copy

    if needs_conversion(bert_dir):
        bert_dir = released_copy(bert_dir, conversion_dir, "--bert_dir")
    if needs_conversion(init_checkpoint):
        init_checkpoint = released_copy(init_checkpoint, conversion_dir, "--init_checkpoint")
        bert_dir = bert_dir or init_checkpoint

    if bert_dir:
        bert_dir = os.fspath(bert_dir)
        if not os.path.isdir(bert_dir) and "://" not in bert_dir:
            raise InputError(f"--bert_dir {bert_dir} is not a folder")
        for flag, value, name in (("bert_config_file", bert_config_file, BERT_CONFIG_NAME),
                                  ("vocab_file", vocab_file, VOCAB_NAME)):
            if not value and "://" not in bert_dir and not os.path.exists(os.path.join(bert_dir, name)):
                raise InputError(f"--bert_dir {bert_dir} has no {name} (needed for --{flag})")
        bert_config_file = bert_config_file or os.path.join(bert_dir, BERT_CONFIG_NAME)
        vocab_file = vocab_file or os.path.join(bert_dir, VOCAB_NAME)
        if not init_checkpoint:
            try:
                init_checkpoint = resolve_checkpoint(bert_dir)
            except CheckpointError as error:
                if checkpoint_required:
                    raise InputError(f"--bert_dir: {error}") from None
    missing = [f"--{flag}" for flag, value in (("bert_config_file", bert_config_file), ("vocab_file", vocab_file))
               if not value]
    if checkpoint_required and not init_checkpoint:
        missing.append("--init_checkpoint")
    if missing:
        raise InputError(f"missing {', '.join(missing)} (or give --bert_dir, a released model folder, "
                         "or set $BERT_BASE_DIR)")
    return ModelFiles(os.fspath(bert_config_file), os.fspath(vocab_file),
                      os.fspath(init_checkpoint) if init_checkpoint else None, bool(do_lower_case))


def load_bert_config(bert_config_file: str, max_seq_length: Optional[int] = None):
    """Reads `bert_config.json`; checks `max_seq_length` against `max_position_embeddings`.

    Returns:
      A `bert_tf.config.BertConfig`.

    Raises:
      InputError: a missing or malformed file, or a sequence length the model was not trained for.
    """
    from bert_tf.config import BertConfig

    if not os.path.exists(bert_config_file) and "://" not in bert_config_file:
        raise InputError(f"--bert_config_file not found: {bert_config_file}")
    try:
        bert_config = BertConfig.from_json_file(bert_config_file)
    except (ValueError, OSError) as error:
        text = str(error)  # most of BertConfig's messages name the file already
        raise InputError(text if bert_config_file in text else f"{bert_config_file}: {text}") from None
    if max_seq_length is not None and max_seq_length > bert_config.max_position_embeddings:
        raise InputError(
            f"Cannot use sequence length {max_seq_length} because the BERT model was only trained up to "
            f"sequence length {bert_config.max_position_embeddings} (--max_seq_length={max_seq_length}, "
            f"max_position_embeddings={bert_config.max_position_embeddings} in {bert_config_file})")
    return bert_config


def load_tokenizer(model_files: ModelFiles, bert_config=None):
    """The `FullTokenizer` for `model_files`, after checking that the vocabulary fits the model.

    Checks: the file exists and reads; it has `[CLS]`, `[SEP]` and `[UNK]`; it has exactly the model's
    `vocab_size` entries (a vocabulary of another model, e.g. the Chinese one with an English model,
    would give wrong ids; more entries would fail inside the embedding lookup); a cased vocabulary is
    not used with `do_lower_case`; `do_lower_case` matches a released checkpoint's casing (the
    original's check).

    Raises:
      InputError: naming the vocabulary file (or the flags that contradict each other).
    """
    from bert_tf import tokenization

    vocab_file = model_files.vocab_file
    if not os.path.exists(vocab_file) and "://" not in vocab_file:
        raise InputError(f"--vocab_file not found: {vocab_file}")
    try:
        tokenization.validate_case_matches_checkpoint(model_files.do_lower_case, model_files.init_checkpoint)
        tokenizer = tokenization.FullTokenizer(vocab_file, model_files.do_lower_case)
    except (ValueError, OSError) as error:
        raise InputError(f"cannot use vocab file {vocab_file}: {error}") from None
    missing = [token for token in SPECIAL_TOKENS if token not in tokenizer.vocab]
    if missing:
        raise InputError(f"vocab file {vocab_file} has no {', '.join(missing)} token: it is not a BERT "
                         "WordPiece vocabulary")
    if bert_config is not None and len(tokenizer.vocab) != bert_config.vocab_size:
        raise InputError(f"vocab file {vocab_file} has {len(tokenizer.vocab)} entries but the model "
                         f"(--bert_config_file) has vocab_size {bert_config.vocab_size}: they are from "
                         "different models")
    check_casing(tokenizer.vocab, model_files.do_lower_case, vocab_file)
    return tokenizer


def check_casing(vocab, do_lower_case: bool, vocab_file: str) -> None:
    """Raises InputError when `do_lower_case` contradicts the vocabulary: lower-cased text with a cased
    vocabulary (its capitalized entries never match), or text kept cased with an uncased Latin-script one
    (every word with a capital letter becomes `[UNK]`: 27% of CoNLL-2003's pieces). A vocabulary with few
    Latin words (e.g. Chinese) fits either casing."""
    capitalized = sum(1 for token in vocab if token[:1].isupper())
    if do_lower_case and capitalized > CASED_VOCAB_FRACTION * len(vocab):
        raise InputError(f"vocab file {vocab_file} is cased ({capitalized} entries start with a capital "
                         "letter, which lower-cased text never produces): pass --do_lower_case=False, or "
                         "use the uncased model's vocabulary")
    latin_words = sum(1 for token in vocab if token.removeprefix("##").isascii() and token.removeprefix("##").isalpha())
    if (not do_lower_case and capitalized <= UNCASED_VOCAB_MAX_CAPITALIZED * len(vocab)
            and latin_words >= LATIN_VOCAB_FRACTION * len(vocab)):
        raise InputError(f"vocab file {vocab_file} is uncased ({capitalized} of {len(vocab)} entries start with "
                         "a capital letter): with --do_lower_case=False every word with a capital becomes [UNK]; "
                         "pass --do_lower_case=True, or use the cased model's vocabulary")


# ------------------------------------------------------------------------------------------------ run options
@dataclasses.dataclass
class RunOptions:
    """How a training script runs, whatever its task.

    Attributes:
      output_dir: checkpoints, TensorBoard events, cached features, results.
      strategy: `one_device`, `mirrored`, `multi_worker_mirrored` or `tpu` (see `strategies`).
      tpu_address: the TPU for `tpu` (`--tpu_name` or `--master`).
      use_xla: compile the training step with XLA.
      dtype: `float32`, `mixed_float16` or `mixed_bfloat16` (aliases `fp16`, `bf16`, ... accepted).
      seed: seeds initialization, dropout and shuffling (None: random).
      save_checkpoints_steps: checkpoint cadence (and always at the end).
      keep_checkpoint_max: newest checkpoints kept (0: all).
      iterations_per_loop: steps per host call on TPUs.
      log_every_steps: TensorBoard scalars interval.
      max_train_steps: stop (and end the learning-rate schedule) after at most this many steps.
      export_dir: after the run, export a SavedModel for TF Serving there.
      progress_bar: None: only on a terminal.
    """

    output_dir: str
    strategy: str = "one_device"
    tpu_address: Optional[str] = None
    use_xla: bool = False
    dtype: str = "float32"
    seed: Optional[int] = None
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    iterations_per_loop: int = 1000
    log_every_steps: int = 100
    max_train_steps: Optional[int] = None
    export_dir: Optional[str] = None
    progress_bar: Optional[bool] = None

    def validate(self) -> None:
        """Raises InputError naming the first invalid option (as its flag)."""
        from bert_tf.training import precision, strategies

        if not self.output_dir:
            raise InputError("--output_dir is required")
        for name in ("save_checkpoints_steps", "iterations_per_loop", "log_every_steps"):
            require_int(f"--{name}", getattr(self, name))
        if self.keep_checkpoint_max is not None and self.keep_checkpoint_max < 0:
            raise InputError(f"--keep_checkpoint_max must be >= 0, got {self.keep_checkpoint_max}")
        if self.max_train_steps is not None:
            require_int("--max_train_steps", self.max_train_steps)
        try:
            self.dtype = precision.canonical_dtype(self.dtype)
        except ValueError as error:
            raise InputError(str(error)) from None
        key = str(self.strategy or "one_device").strip().lower().replace("-", "_")
        if key not in strategies.STRATEGY_NAMES:
            raise InputError(f"unknown --strategy {self.strategy!r}; choose one of "
                             f"{', '.join(strategies.STRATEGY_NAMES)}")
        self.strategy = key

    def create_strategy(self):
        """The `tf.distribute.Strategy` (raises InputError when it cannot be created, e.g. no TPU).

        Under several workers without `--seed`, sets `seed` to one drawn by the first worker: each worker
        builds the same shuffled input and keeps its share of every batch (`bert_tf.training.sharding`).
        """
        from bert_tf.training import strategies

        try:
            strategy = strategies.create_strategy(self.strategy, self.tpu_address)
        except ValueError as error:
            raise InputError(str(error)) from None
        if self.seed is None:
            self.seed = strategies.shared_seed(strategy, None)
            if self.seed is not None:
                logging.info("No --seed: the workers shuffle their input with seed %d", self.seed)
        return strategy

    def trainer_config(self, num_train_steps: int, init_checkpoint: Optional[str],
                       expected_missing: Sequence[str] = (), on_tpu: bool = False,
                       num_accumulation_steps: int = 1):
        """The `TrainerConfig` for these options (steps per host call only on TPUs)."""
        from bert_tf.training.trainer import TrainerConfig

        return TrainerConfig(
            output_dir=self.output_dir,
            num_train_steps=num_train_steps,
            save_checkpoints_steps=self.save_checkpoints_steps,
            keep_checkpoint_max=self.keep_checkpoint_max,
            log_every_steps=self.log_every_steps,
            use_xla=self.use_xla,
            num_accumulation_steps=num_accumulation_steps,
            steps_per_loop=self.iterations_per_loop if on_tpu else 1,
            dtype=self.dtype,
            init_checkpoint=init_checkpoint,
            expected_missing=tuple(expected_missing),
            seed=self.seed,
            progress_bar=self.progress_bar,
        )


@dataclasses.dataclass
class FineTuningOptions:
    """The original fine-tuning scripts' recipe flags (`run_classifier.py`, `run_squad.py`, `run_ner.py`).

    Attributes:
      train_batch_size, eval_batch_size, predict_batch_size: global batch sizes.
      learning_rate: peak learning rate of AdamWeightDecay.
      num_train_epochs: passes over the training features (fractions allowed).
      warmup_proportion: fraction of the steps with linear warmup.
      num_accumulation_steps: batches of train_batch_size per update (gradient accumulation): an update sees
        train_batch_size * num_accumulation_steps examples, in the memory of train_batch_size.
      eval_every_steps: evaluate on the dev set every this many steps (and at the end); None: at the end only.
      keep_best: the `eval_results.txt` key whose best evaluation's checkpoint is kept in `output_dir/best/`
        and used for prediction and export (`bert_tf.training.evaluation`).
      early_stopping_patience: stop after this many evaluations without a better `keep_best` value.
    """

    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    num_accumulation_steps: int = 1
    eval_every_steps: Optional[int] = None
    keep_best: Optional[str] = None
    early_stopping_patience: Optional[int] = None

    @property
    def update_batch_size(self) -> int:
        """The examples of one optimizer update: train_batch_size * num_accumulation_steps."""
        return self.train_batch_size * self.num_accumulation_steps

    def validate(self, do_train: bool) -> None:
        """Raises InputError naming the first invalid flag (the recipe is checked only for training)."""
        for name in ("train_batch_size", "eval_batch_size", "predict_batch_size", "num_accumulation_steps"):
            require_int(f"--{name}", getattr(self, name))
        for name in ("eval_every_steps", "early_stopping_patience"):
            if getattr(self, name) is not None:
                require_int(f"--{name}", getattr(self, name))
        if self.early_stopping_patience is not None and not self.keep_best:
            raise InputError("--early_stopping_patience needs --keep_best (the metric that must improve)")
        if self.early_stopping_patience is not None and self.eval_every_steps is None:
            raise InputError("--early_stopping_patience needs --eval_every_steps (how often to evaluate)")
        if do_train:
            if not self.learning_rate > 0:
                raise InputError(f"--learning_rate must be > 0, got {self.learning_rate}")
            if not self.num_train_epochs > 0:
                raise InputError(f"--num_train_epochs must be > 0, got {self.num_train_epochs}")
            if not 0 <= self.warmup_proportion <= 1:
                raise InputError(f"--warmup_proportion must be in [0, 1], got {self.warmup_proportion}")

    def schedule(self, num_examples: int, max_train_steps: Optional[int] = None) -> Tuple[int, int]:
        """`(num_train_steps, num_warmup_steps)` as the original computes them, capped by `max_train_steps`.

        Raises:
          InputError: the data and flags give no training step.
        """
        num_train_steps = int(num_examples / self.update_batch_size * self.num_train_epochs)
        if max_train_steps is not None:
            num_train_steps = min(num_train_steps, max_train_steps)
        if num_train_steps < 1:
            batch = (f"train_batch_size {self.train_batch_size}" if self.num_accumulation_steps == 1 else
                     f"(train_batch_size {self.train_batch_size} * num_accumulation_steps "
                     f"{self.num_accumulation_steps})")
            raise InputError(f"{num_examples} training examples / {batch} * "
                             f"num_train_epochs {self.num_train_epochs} gives 0 training steps")
        return num_train_steps, int(num_train_steps * self.warmup_proportion)
