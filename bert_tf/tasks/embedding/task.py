"""The embedding task: what `export_savedmodel.py --task_name=embedding` exports (the embedding SavedModel).

It has no training, evaluation or prediction mode (`encode.py` and `bert_tf.encode` compute embeddings from a
file or a list of texts: `bert_tf.tasks.embedding.encoder`); its model is `BertSentenceEmbedding`, restored from
a pretrained or fine-tuned checkpoint (`bert/*`; no head is required), and its export is
`bert_tf.serving.embedding.export_embedding` with the config's pooling, layers, normalization and long-text
settings.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from bert_tf.modeling.sentence_embedding import BertSentenceEmbedding
from bert_tf.tasks.base import Split, Task, TaskConfig, register
from bert_tf.tasks.embedding.features import check_window_settings, parse_layers


@dataclasses.dataclass(kw_only=True)
class EmbeddingConfig(TaskConfig):
    """The export's settings (`TaskConfig`'s and these; the flags of the same names).

    Attributes:
      pooling: `mean`, `max`, `cls` or `pooler`.
      layers: comma-separated encoder block indexes averaged before pooling (-1 is the last block).
      normalize: L2-normalize each vector.
      truncate: keep only a long text's first window (default: average its windows).
      window_stride: pieces between window starts (default: half a window).
    """

    pooling: str = "mean"
    layers: str = "-1"
    normalize: bool = False
    truncate: bool = False
    window_stride: Optional[int] = None


@register
class EmbeddingTask(Task):
    """Sentence embeddings: a pooling of the encoder's outputs; export only."""

    name = "embedding"
    config_type = EmbeddingConfig
    modes = ()
    min_seq_length = 3  # [CLS] piece [SEP]
    head_name = "embedding"

    def check_config(self) -> None:
        """The layers parse and the window settings are positive integers (the pooling and the layer indexes are
        checked against the model when it is built)."""
        parse_layers(self.config.layers)
        check_window_settings(self.config.max_seq_length, self.config.window_stride)

    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        """No splits: the task only exports."""
        self.tokenizer = tokenizer
        return {}

    def build_model(self, bert_config, dtype_policy):
        config = self.config
        return BertSentenceEmbedding(bert_config, config.pooling, parse_layers(config.layers), dtype=dtype_policy)

    def export(self, model, export_dir: str, **serving_options) -> str:
        """`bert_tf.serving.embedding.export_embedding`: `text` in, `embeddings` out."""
        from bert_tf.serving.embedding import export_embedding  # tensorflow_text: only to export

        config = self.config
        check_window_settings(config.max_seq_length, config.window_stride)
        return export_embedding(model, config.model.vocab_file, config.model.do_lower_case, export_dir,
                                max_seq_length=config.max_seq_length, normalize=config.normalize,
                                truncate=config.truncate, window_stride=config.window_stride, **serving_options)
