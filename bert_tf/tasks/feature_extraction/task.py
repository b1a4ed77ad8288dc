"""Per-token contextual features from BERT, on the Task protocol: the library behind `extract_features.py`.

Behaviour of the original google-research/bert `extract_features.py`:

* Input: one example per line, `text_a` or `text_a ||| text_b` (split with the original regex
  `^(.*) \\|\\|\\| (.*)$`, so the last ` ||| ` separates the pair); the line is stripped first; the
  example's `unique_id` is its 0-based line index; an empty line is an example with empty `text_a`.
* Packing: `[CLS] A [SEP] (B [SEP])`, segment 0 then 1; a pair is truncated to `max_seq_length - 3`
  word pieces by popping from the longer side, a single segment cut to `max_seq_length - 2`.
* Output: one JSON object per input line, in input order:
  `{"linex_index": unique_id, "features": [{"token": token, "layers": [{"index": layer_index,
  "values": [round(float(x), 6), ...]}, ...]}, ...]}`, with a feature per real token (the padding is
  not written); `layer_index` as given (e.g. -1 is the last encoder block, 0 the first).

An inference-only task: its one mode is `do_predict`, its model the pretrained encoder restored from
`init_checkpoint` (no head), and it writes one file of its own instead of owning an `output_dir`. Unlike the
original, the file is streamed (`predictions.write_features`: memory stays constant whatever its length),
each batch is padded only to its longest example, the model runs in one `tf.function` traced once for
every batch shape, and the output is written to a temporary name that is renamed when complete.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
from typing import Dict, Optional

from bert_tf import files, tokenization
from bert_tf.checkpoint import resolve_checkpoint
from bert_tf.modeling import BertModel
from bert_tf.tasks.base import PredictOutcome, Split, Task, TaskConfig, register
from bert_tf.tasks.feature_extraction import predictions
from bert_tf.tasks.feature_extraction.examples import FeatureExtractionError, iter_examples
from bert_tf.tasks.feature_extraction.features import parse_layer_indexes


@dataclasses.dataclass(kw_only=True)
class ExtractionConfig(TaskConfig):
    """Settings of one extraction run (`TaskConfig`'s and these; `recipe.predict_batch_size` is the batch
    size, `options.output_dir` the output file's folder).

    Attributes:
      input_file: text file, one `text_a` or `text_a ||| text_b` per line (UTF-8).
      output_file: JSON-lines file to write.
      layers: comma-separated encoder block indexes, Python style (-1 is the last block).
      log_every_n_examples: progress is logged after every this many examples.
    """

    input_file: Optional[str] = None
    output_file: Optional[str] = None
    layers: str = "-1,-2,-3,-4"
    log_every_n_examples: int = 1000
    do_predict: bool = True


def _require_file(path: Optional[str], what: str) -> None:
    import tensorflow as tf

    if not path or not tf.io.gfile.exists(path):
        raise FeatureExtractionError(f"{what} not found: {path}")
    if tf.io.gfile.isdir(path):
        raise FeatureExtractionError(f"{what} {path} is a folder, not a file")


@register
class FeatureExtractionTask(Task):
    """The encoder's per-token outputs of chosen layers, for every line of a text file."""

    name = "feature_extraction"
    config_type = ExtractionConfig
    modes = ("do_predict",)
    min_seq_length = 2  # [CLS] [SEP]
    has_export = False
    uses_output_dir = False
    streams_predictions = True

    def check_config(self) -> None:
        """Files, the output not overwriting the input, and the casing against the checkpoint's name."""
        config = self.config
        _require_file(config.input_file, "input file")
        if config.output_file and files.resolved_path(config.input_file) == files.resolved_path(config.output_file):
            raise FeatureExtractionError(f"--output_file {config.output_file} is the --input_file: it would be "
                                         "overwritten; write the features to another file")
        _require_file(config.model.vocab_file, "vocab file")
        _require_file(config.model.bert_config_file, "BERT config file")
        # As the original, the casing is checked on the flag as given; checking the resolved prefix too
        # also covers a released model passed as its folder.
        tokenization.validate_case_matches_checkpoint(config.model.do_lower_case, config.model.init_checkpoint)
        checkpoint = resolve_checkpoint(config.model.init_checkpoint)
        tokenization.validate_case_matches_checkpoint(config.model.do_lower_case, checkpoint)

    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        """The input file's examples, streamed (only the first is read now, to refuse an empty file)."""
        self.tokenizer = tokenizer
        examples = iter_examples(self.config.input_file)
        first = next(examples, None)
        if first is None:
            raise FeatureExtractionError(f"input file {self.config.input_file} is empty: nothing to extract")
        return {"test": Split("test", [self.config.input_file], itertools.chain([first], examples))}

    def build_model(self, bert_config, dtype_policy):
        return BertModel(bert_config, dtype=dtype_policy)

    def predict_stream(self, model, split: Split) -> PredictOutcome:
        """Writes `output_file`: the chosen layers of every example, in input order."""
        config = self.config
        extractor = predictions.FeatureExtractor(model, parse_layer_indexes(config.layers,
                                                                            model.config.num_hidden_layers))
        count = predictions.write_features(os.fspath(config.output_file), split.examples, extractor,
                                           self.tokenizer, config.max_seq_length, config.recipe.predict_batch_size,
                                           config.log_every_n_examples)
        return PredictOutcome(files={os.path.basename(config.output_file): os.fspath(config.output_file)},
                              decoded=count)
