"""`PortableModel`: a BERT checkpoint in memory, whatever file format it came from or goes to.

Its tensors carry the released checkpoint's names and layouts (`bert/encoder/layer_0/attention/self/query/kernel`
[H, H] as [in, out], `output_weights` [num_labels, H], ...), the names this project's Keras models give their
variables; each format's reader and writer translate to and from them. `expected_shapes` says which tensors a
head needs, so that every conversion is checked the same way: missing, extra or misshapen tensors are refused
with one line naming the first one.

Heads (`head`), by the released names of their tensors:

| head | tensors besides `bert/*` | labels |
|---|---|---|
| `base` | none | |
| `pretraining` | `cls/predictions/*` (MLM transform, `output_bias` [V]), `cls/seq_relationship/*` [2, H] | |
| `classification` | `output_weights` [N, H], `output_bias` [N] (run_classifier.py) | `label_list.txt` |
| `token_classification` | `cls/ner/output_weights` [N, H], `output_bias` [N] (run_ner.py) | `label_map.json` |
| `question_answering` | `cls/squad/output_weights` [2, H], `output_bias` [2] (run_squad.py) | |
| `multiple_choice` | `cls/multiple_choice/output_weights` [1, H], `output_bias` [1] (run_swag.py) | |
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np

from bert_tf.config import BertConfig
from bert_tf.interop.formats import ConversionError

BASE = "base"
PRETRAINING = "pretraining"
CLASSIFICATION = "classification"
TOKEN_CLASSIFICATION = "token_classification"
QUESTION_ANSWERING = "question_answering"
MULTIPLE_CHOICE = "multiple_choice"
HEADS = (BASE, PRETRAINING, CLASSIFICATION, TOKEN_CLASSIFICATION, QUESTION_ANSWERING, MULTIPLE_CHOICE)

# The released name of each head's output projection scope ("" for run_classifier's root variables).
HEAD_SCOPES = {
    CLASSIFICATION: "",
    TOKEN_CLASSIFICATION: "cls/ner/",
    QUESTION_ANSWERING: "cls/squad/",
    MULTIPLE_CHOICE: "cls/multiple_choice/",
}
POOLER_TENSORS = ("bert/pooler/dense/kernel", "bert/pooler/dense/bias")
# Heads that never read the pooler: Hugging Face's classes for them have none (`add_pooling_layer=False`).
HEADS_WITHOUT_POOLER = (TOKEN_CLASSIFICATION, QUESTION_ANSWERING)
# What a run_pretraining.py or fine-tuning checkpoint holds besides the model: optimizer state.
OPTIMIZER_SUFFIXES = ("/adam_m", "/adam_v")
GLOBAL_STEP = "global_step"


@dataclasses.dataclass
class PortableModel:
    """A BERT model's weights and what is needed to use them.

    Attributes:
      bert_config: the encoder's hyper-parameters.
      head: one of `HEADS`.
      tensors: released checkpoint name -> float32 numpy array in the released layout.
      vocab: the WordPiece vocabulary, in id order.
      do_lower_case: the tokenizer lower-cases and strips accents (an uncased model).
      labels: the label of each output of a classification or token-classification head, in id order
        (None when unknown: a GLUE task's, or a regression).
      problem_type: Hugging Face's `problem_type` of a sequence classifier (`regression`,
        `single_label_classification`, `multi_label_classification`), or None.
    """

    bert_config: BertConfig
    head: str
    tensors: Dict[str, np.ndarray]
    vocab: List[str]
    do_lower_case: bool
    labels: Optional[List[str]] = None
    problem_type: Optional[str] = None

    @property
    def num_outputs(self) -> int:
        """Rows of the head's output projection (labels, 2 for spans, 1 for multiple choice); 0 without one."""
        if self.head not in HEAD_SCOPES:
            return 0
        return int(self.tensors[HEAD_SCOPES[self.head] + "output_bias"].shape[0])


def is_optimizer_state(name: str) -> bool:
    """Optimizer slots (`<variable>/adam_m`, `/adam_v`) and `global_step`: checkpoint entries that are no weight."""
    return name == GLOBAL_STEP or name.endswith(OPTIMIZER_SUFFIXES)


def head_of(names, where: str) -> str:
    """The head of a set of released tensor names (see the module's table).

    Raises:
      ConversionError: tensors of two heads (naming both), or `cls/predictions` without `cls/seq_relationship`.
    """
    names = set(names)
    found = []
    if "cls/predictions/output_bias" in names or "cls/seq_relationship/output_weights" in names:
        found.append(PRETRAINING)
    for head, scope in HEAD_SCOPES.items():
        if scope + "output_weights" in names:
            found.append(head)
    if len(found) > 1:
        raise ConversionError(f"{where} holds the tensors of two heads ({' and '.join(found)}): convert one model")
    return found[0] if found else BASE


def encoder_shapes(config: BertConfig) -> Dict[str, Tuple[int, ...]]:
    """Released name -> shape of every `bert/*` tensor (embeddings, L blocks, pooler)."""
    hidden, inner = config.hidden_size, config.intermediate_size
    shapes = {
        "bert/embeddings/word_embeddings": (config.vocab_size, hidden),
        "bert/embeddings/token_type_embeddings": (config.type_vocab_size, hidden),
        "bert/embeddings/position_embeddings": (config.max_position_embeddings, hidden),
        "bert/embeddings/LayerNorm/gamma": (hidden,),
        "bert/embeddings/LayerNorm/beta": (hidden,),
    }
    for layer in range(config.num_hidden_layers):
        scope = f"bert/encoder/layer_{layer}"
        for projection in ("query", "key", "value"):
            shapes[f"{scope}/attention/self/{projection}/kernel"] = (hidden, hidden)
            shapes[f"{scope}/attention/self/{projection}/bias"] = (hidden,)
        for dense, (fan_in, fan_out) in (("attention/output", (hidden, hidden)), ("intermediate", (hidden, inner)),
                                         ("output", (inner, hidden))):
            shapes[f"{scope}/{dense}/dense/kernel"] = (fan_in, fan_out)
            shapes[f"{scope}/{dense}/dense/bias"] = (fan_out,)
        for norm in ("attention/output", "output"):
            shapes[f"{scope}/{norm}/LayerNorm/gamma"] = (hidden,)
            shapes[f"{scope}/{norm}/LayerNorm/beta"] = (hidden,)
    shapes["bert/pooler/dense/kernel"] = (hidden, hidden)
    shapes["bert/pooler/dense/bias"] = (hidden,)
    return shapes


def head_shapes(config: BertConfig, head: str, num_outputs: int) -> Dict[str, Tuple[int, ...]]:
    """Released name -> shape of the head's tensors (`num_outputs`: rows of its output projection)."""
    hidden = config.hidden_size
    if head == PRETRAINING:
        return {
            "cls/predictions/transform/dense/kernel": (hidden, hidden),
            "cls/predictions/transform/dense/bias": (hidden,),
            "cls/predictions/transform/LayerNorm/gamma": (hidden,),
            "cls/predictions/transform/LayerNorm/beta": (hidden,),
            "cls/predictions/output_bias": (config.vocab_size,),
            "cls/seq_relationship/output_weights": (2, hidden),
            "cls/seq_relationship/output_bias": (2,),
        }
    if head in HEAD_SCOPES:
        scope = HEAD_SCOPES[head]
        return {scope + "output_weights": (num_outputs, hidden), scope + "output_bias": (num_outputs,)}
    return {}


def expected_shapes(config: BertConfig, head: str, num_outputs: int = 0) -> Dict[str, Tuple[int, ...]]:
    """Every tensor a model of `head` has: the encoder's and the head's, released names -> shapes."""
    return {**encoder_shapes(config), **head_shapes(config, head, num_outputs)}


def check_tensors(model: PortableModel, where: str) -> None:
    """Checks that `model.tensors` are exactly those of its config and head, with their shapes, float32.

    Raises:
      ConversionError: `<where>: tensor <name> ...` for the first missing, extra or misshapen tensor.
    """
    expected = expected_shapes(model.bert_config, model.head, model.num_outputs)
    for name, shape in expected.items():
        if name not in model.tensors:
            raise ConversionError(f"{where}: tensor {name} is missing (a {model.head} model has it, shape "
                                  f"{list(shape)})")
        actual = tuple(model.tensors[name].shape)
        if actual != tuple(shape):
            raise ConversionError(f"{where}: tensor {name} has shape {list(actual)}, the config gives {list(shape)}")
        if model.tensors[name].dtype != np.float32:
            raise ConversionError(f"{where}: tensor {name} is {model.tensors[name].dtype}, not float32")
    extra = sorted(set(model.tensors) - set(expected))
    if extra:
        raise ConversionError(f"{where}: tensor {extra[0]} is not part of a BERT {model.head} model"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
