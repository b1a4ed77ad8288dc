"""Named-entity recognition on the Task protocol: the library behind `run_ner.py`.

Reads `train.*`, `dev.*` (or `valid.*`) and `test.*` of `data_dir` (CoNLL columns such as CoNLL-2003's
`.txt` files, JSON lines of tokens and tags, or CLUENER's JSON lines of spans, in any tag scheme:
`examples`, `tag_schemes`; `predict_file` for any other file to tag) and writes in `output_dir`:

* `label_map.json`: the training labels and their ids (`examples`); runs without `do_train` read it back
  (from `output_dir`, else from the folder of `init_checkpoint`);
* `train.tf_record`, `eval.tf_record`, `predict.tf_record`: the windows (`features`), reused while the data,
  vocabulary and settings are unchanged (`bert_tf.tasks.feature_cache`);
* `model.ckpt-<step>` checkpoints (`bert/*`, `cls/ner/output_weights`, `cls/ner/output_bias`, Adam slots,
  `global_step`) and TensorBoard events;
* `eval_results.txt`: `eval_precision`, `eval_recall`, `eval_f1` (entity level, conlleval: `metrics`),
  `eval_accuracy` (words), `eval_loss` (mean cross-entropy per word), `global_step`, and
  `eval_precision_<TYPE>`, `eval_recall_<TYPE>`, `eval_f1_<TYPE>` per entity type; `eval_predictions.txt`;
* `test_predictions.txt`: `word gold predicted` per line (`word predicted` for an untagged file), a blank
  line after each sentence, `-DOCSTART-` lines kept: conlleval's input (JSON-lines inputs: `.jsonl` / `.json`
  in their own format; the tags always in the input's scheme); `test_results.txt`: the same metrics as
  `test_*` when the file has tags. A `predict_file` other than `data_dir`'s test file gets
  `predictions_<its stem>.txt` and `results_<its stem>.txt` instead (the test set's files stay as they are).

Training: cross-entropy averaged over the words of the batch (first word pieces), the original
AdamWeightDecay with warmup and linear decay; `num_train_steps = int(windows / train_batch_size *
num_train_epochs)`. Without `do_train`, the model is `output_dir`'s newest checkpoint, else an
`init_checkpoint` holding a fine-tuned `cls/ner/` head (`bert_tf.tasks.driver`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.checkpoint import latest_checkpoint
from bert_tf.errors import InputError, require_int
from bert_tf.modeling.token_classification import NER_HEAD_VARIABLES, BertTokenClassifier
from bert_tf.tasks.base import PredictOutcome, Split, Task, TaskConfig, register
from bert_tf.tasks.ner import examples, metrics, predictions, tag_schemes
from bert_tf.tasks.ner import features as ner_features
from bert_tf.training.train_step import WeightedLoss

TRAIN_FILE = "train.txt"
SPLIT_STEMS = {"train": ("train",), "dev": ("dev", "valid"), "test": ("test",)}
TEST_RESULTS_FILE = "test_results.txt"
# Sentences come in document order: a buffer of a few thousand windows mixes documents (the original
# classifier's 100 would keep each batch inside one or two news stories).
SHUFFLE_BUFFER_SIZE = 4096


@dataclasses.dataclass(kw_only=True)
class NerConfig(TaskConfig):
    """The settings of one `run_ner.py` run (`TaskConfig`'s and these).

    Attributes:
      data_dir: the folder of `train.txt`, `dev.txt`/`valid.txt`, `test.txt` (not needed to predict a
        `predict_file` alone).
      predict_file: the CoNLL file `do_predict` tags instead of `data_dir/test.txt`.
      window_stride: word pieces between the starts of a long sentence's windows (default: half a window).
      data_format: `conll`, `jsonl`, `spans`, or `auto` (detected from each file; `examples`).
      tag_scheme: `iob1`, `iob2`, `bioes`, `bmes`, or `auto` (detected from the training file, else each file).
      word_column, tag_column: a CoNLL file's columns (0-based; negative from the end).
      group_by_length: on by default (about twice as fast; NER has no original script whose random batches
        to keep).
      document_context: windows over whole documents (`examples.documents`) rather than sentences.
    """

    data_dir: Optional[str] = None
    predict_file: Optional[str] = None
    window_stride: Optional[int] = None
    group_by_length: bool = True
    data_format: str = "auto"
    tag_scheme: str = "auto"
    word_column: int = 0
    tag_column: int = -1
    document_context: bool = False


def _compatible(scheme: str, other: str) -> bool:
    """Whether two files' schemes may be mixed: the same, or IOB1 and IOB2 (read alike)."""
    return scheme == other or {scheme, other} <= {"iob1", "iob2"}


def token_classification_loss(outputs, labels, features) -> WeightedLoss:
    """Mean softmax cross-entropy over the labeled positions (label id >= 0) of the global batch.

    Returns this replica's scalar, scaled so that the trainer's mean over replicas is the mean over every
    labeled position of the global batch: replicas hold different numbers of labeled positions, so each
    divides its sum by the global count (summed across replicas), as one device with the whole batch does.
    The count is the loss's weight: accumulated micro-batches make the update of their union.
    """
    del features
    labels = tf.cast(labels, tf.int32)
    weights = tf.cast(labels >= 0, tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=outputs["logits"])
    count = tf.reduce_sum(weights)
    context = tf.distribute.get_replica_context()
    num_replicas = context.num_replicas_in_sync if context is not None else 1
    if num_replicas > 1:
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return WeightedLoss(tf.reduce_sum(losses * weights) / tf.maximum(count, 1.0) * num_replicas, count)


@register
class NerTask(Task):
    """Token classification of CoNLL files: every word gets exactly one label (`features`)."""

    name = "ner"
    config_type = NerConfig
    head_variables = NER_HEAD_VARIABLES
    head_name = "NER"
    sequence_outputs = {"logits": 0.0}
    shuffle_buffer_size = SHUFFLE_BUFFER_SIZE

    def __init__(self, config: NerConfig):
        super().__init__(config)
        self.label_list: List[str] = []

    def check_config(self) -> None:
        config = self.config
        if not config.data_dir and (config.do_train or config.do_eval or not config.predict_file):
            raise InputError("--data_dir is required")
        if config.data_dir and not files.tf_gfile().isdir(config.data_dir):
            raise InputError(f"--data_dir {config.data_dir} is not a folder")
        if config.window_stride is not None:
            require_int("--window_stride", config.window_stride)
        for flag, value, choices in (("data_format", config.data_format, examples.DATA_FORMATS),
                                     ("tag_scheme", config.tag_scheme, tag_schemes.SCHEMES)):
            if value != "auto" and value not in choices:
                raise InputError(f"--{flag} must be auto or one of {', '.join(choices)}, got {value!r}")

    # -- inputs ---------------------------------------------------------------------------------------
    def data_files(self) -> Dict[str, str]:
        """The file of each requested split (`train`, `dev` (or `valid`), `test`, with any of
        `examples.EXTENSIONS`; `predict_file` for `test` when given).

        Raises:
          InputError: a needed file does not exist (naming the folder and the names looked for).
        """
        config, gfile = self.config, files.tf_gfile()
        modes = {"train": config.do_train, "dev": config.do_eval, "test": config.do_predict}
        paths = {}
        for split in (split for split, wanted in modes.items() if wanted):
            if split == "test" and config.predict_file:
                if not gfile.exists(config.predict_file):
                    raise InputError(f"--predict_file: no {os.path.basename(config.predict_file)} "
                                     f"({config.predict_file} does not exist)")
                paths[split] = config.predict_file
                continue
            candidates = [os.path.join(config.data_dir, f"{stem}.{extension}") for stem in SPLIT_STEMS[split]
                          for extension in examples.EXTENSIONS]
            found = next((path for path in candidates if gfile.exists(path)), None)
            if found is None:
                wanted = " or ".join(f"{stem}.txt" for stem in SPLIT_STEMS[split])
                others = ", .".join(examples.EXTENSIONS[1:])
                raise InputError(f"--data_dir {config.data_dir}: no {wanted} (nor .{others})")
            paths[split] = found
        return paths

    def read_file(self, path: str, split: str, scheme: str) -> examples.ConllFile:
        """One data file in the configured format, its tags read in `scheme` (`auto`: detected)."""
        config = self.config
        return examples.read_ner_file(path, config.data_format, require_tags=split != "test", scheme=scheme,
                                      word_column=config.word_column, tag_column=config.tag_column)

    def resolve_label_list(self, train: Optional[examples.ConllFile]) -> List[str]:
        """The labels: from the training file when training, else from a saved `label_map.json` (in
        `output_dir`, else next to `init_checkpoint`).

        Raises:
          InputError: no label map to read; or `output_dir` holds checkpoints trained on other labels.
        """
        output_dir = self.config.options.output_dir
        if train is not None:
            label_list = examples.label_list_from_training(train)
            saved = examples.find_label_map([output_dir])
            if saved and examples.read_label_map(saved) != label_list and latest_checkpoint(output_dir):
                raise InputError(f"{saved} lists other labels than {train.path} ({', '.join(label_list)}), and "
                                 f"{output_dir} holds checkpoints trained on them: use a new --output_dir")
            return label_list
        path = examples.find_label_map(self.run_folders())
        if path is None:
            raise InputError(f"no {examples.LABEL_MAP_FILE} in --output_dir {output_dir} (or next to "
                             "--init_checkpoint): run with --do_train first, it writes the label map")
        logging.info("Labels from %s", path)
        return examples.read_label_map(path)

    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        config = self.config
        paths = self.data_files()
        train = self.read_file(paths["train"], "train", config.tag_scheme) if config.do_train else None
        self.label_list = self.resolve_label_list(train)
        splits = {}
        for name, path in paths.items():
            conll = train if name == "train" else self.read_file(path, name, config.tag_scheme)
            if train is not None and conll.tagged and not _compatible(conll.scheme, train.scheme):
                raise InputError(f"{path}: its tags are {conll.scheme.upper()} but the training file's are "
                                 f"{train.scheme.upper()} (mixed schemes); give --tag_scheme or convert one")
            if conll.tagged:
                examples.check_labels(conll, self.label_list)
            documents = examples.documents(conll) if config.document_context else None
            converted = ner_features.convert_file(conll, self.label_list, tokenizer, config.max_seq_length,
                                                  config.window_stride, documents)
            logging.info("%s: %d sentences%s, %d words, %d windows", path, converted.num_sentences,
                         f" in {len(documents)} documents" if documents is not None else "", converted.num_words,
                         len(converted.windows))
            splits[name] = Split(name, [conll.path], conll.sentences, converted.windows,
                                 num_examples=len(converted.windows), num_records=len(converted.windows),
                                 data=conll)
        return splits

    def record_layout(self, split: Split, training: bool):
        return ner_features.record_layout(self.config.max_seq_length, with_labels=training)

    def write_records(self, split: Split, path: str, num_padding: int) -> int:
        return ner_features.write_windows(split.features, path, self.config.max_seq_length, num_padding)

    def feature_settings(self):
        return {"labels": list(self.label_list), "window_stride": self.config.window_stride,
                "document_context": bool(self.config.document_context)}

    def write_run_files(self, write_dir: str) -> None:
        examples.write_label_map(write_dir, self.label_list)

    # -- model ----------------------------------------------------------------------------------------
    def build_model(self, bert_config, dtype_policy):
        return BertTokenClassifier(bert_config, len(self.label_list), dtype=dtype_policy)

    def loss(self, outputs, labels, features):
        return token_classification_loss(outputs, labels, features)

    # -- outputs --------------------------------------------------------------------------------------
    def _decode(self, split: Split, prediction):
        logits = prediction.outputs["logits"][:len(split.features)]
        return logits, predictions.decode(split.data, split.features, logits, self.label_list)

    def _scores(self, split: Split, predicted, prefix: str) -> Dict[str, float]:
        gold = [sentence.labels for sentence in split.data.sentences]
        return metrics.score_entities(gold, predicted).as_results(prefix)

    def evaluate(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        """Entity-level scores of the dev file; writes its predictions (`eval_predictions.txt`, or `.jsonl` /
        `.json` for JSON-lines files)."""
        logits, predicted = self._decode(split, prediction)
        results = self._scores(split, predicted, "eval")
        results.update(eval_loss=metrics.mean_word_loss(split.features, logits), global_step=int(global_step))
        name = predictions.predictions_file("dev", split.data.data_format)
        predictions.write_predictions(os.path.join(write_dir, name), split.data, predicted)
        return results

    def other_predict_file_stem(self) -> str:
        """The stem of `predict_file` when it is not `data_dir`'s test file ('' otherwise): its predictions
        and scores go to `predictions_<stem>.*` and `results_<stem>.txt`, so that a run's folder never holds
        one file's predictions beside another file's scores."""
        config = self.config
        if not config.predict_file:
            return ""
        if config.data_dir:
            resolved = files.resolved_path(config.predict_file)
            if any(files.resolved_path(os.path.join(config.data_dir, f"{stem}.{extension}")) == resolved
                   for stem in SPLIT_STEMS["test"] for extension in examples.EXTENSIONS):
                return ""
        return os.path.splitext(os.path.basename(config.predict_file))[0] or "predict_file"

    def predict(self, split: Split, prediction, global_step: int, write_dir: str) -> PredictOutcome:
        """`test_predictions.txt`, and `test_results.txt` for a tagged file (`predictions_<stem>.txt` and
        `results_<stem>.txt` for a `predict_file` other than the test file)."""
        _, predicted = self._decode(split, prediction)
        stem = self.other_predict_file_stem()
        name = predictions.predictions_file("test", split.data.data_format, stem)
        path = os.path.join(write_dir, name)
        predictions.write_predictions(path, split.data, predicted)
        result = PredictOutcome(files={name: path}, decoded=predicted)
        if split.data.tagged:
            result.results = {**self._scores(split, predicted, "test"), "global_step": int(global_step)}
            result.results_file = f"results_{stem}.txt" if stem else TEST_RESULTS_FILE
            logging.info("Test F1 = %.4f (%s)", result.results["test_f1"], split.data.path)
        return result

    def prepare_export(self) -> None:
        self.label_list = self.resolve_label_list(None)

    def export(self, model, export_dir: str, **serving_options) -> str:
        """`bert_tf.serving.ner.export_ner` with the run's labels, `max_seq_length` and `window_stride`."""
        from bert_tf.serving.ner import export_ner  # TensorFlow Text: only to export

        config = self.config
        return export_ner(model, config.model.vocab_file, config.model.do_lower_case, self.label_list, export_dir,
                          max_seq_length=config.max_seq_length, window_stride=config.window_stride,
                          **serving_options)
