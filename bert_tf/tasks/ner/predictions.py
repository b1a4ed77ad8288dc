"""NER model outputs -> one label per word -> the prediction files, in the format and scheme of the input.

`decode` takes each word's label at its first piece, in the window where it has the most context
(`features.convert_file` put it in that window only); a word without pieces is `O`. The predicted IOB2
labels are written back in the input file's tag scheme (`tag_schemes.from_iob2`) and format:

* CoNLL (`prediction_lines`): `word gold predicted` (or `word predicted` for an untagged file), a blank line
  after each sentence, the file's `-DOCSTART-` lines kept: what `conlleval` reads (`*_predictions.txt`);
* JSON lines of tokens: `{"tokens": [...], "tags": [predicted]}` per sentence (`*_predictions.jsonl`);
* JSON lines of spans (CLUENER): `{"text": ..., "label": {type: {entity: [[start, end]]}}}` of the predicted
  entities (`*_predictions.json`).
"""
from __future__ import annotations

import collections
import json
from typing import Dict, Iterator, List, Sequence

import numpy as np

from bert_tf import files
from bert_tf.tasks.ner import tag_schemes
from bert_tf.tasks.ner.examples import DOCSTART, OUTSIDE, ConllFile
from bert_tf.tasks.ner.features import WindowFeature
from bert_tf.tasks.ner.metrics import chunks

_EXTENSIONS = {"conll": ".txt", "jsonl": ".jsonl", "spans": ".json"}


def predictions_file(split: str, data_format: str, other_file_stem: str = "") -> str:
    """The prediction file name of a split (`dev`: `eval_predictions`, `test`: `test_predictions`) in a format;
    `predictions_<stem>` for a file to tag other than the data's test file (`other_file_stem`: its stem)."""
    if other_file_stem:
        return f"predictions_{other_file_stem}{_EXTENSIONS[data_format]}"
    return ("eval_predictions" if split == "dev" else "test_predictions") + _EXTENSIONS[data_format]


def decode(conll: ConllFile, windows: Sequence[WindowFeature], logits: np.ndarray,
           label_list: Sequence[str]) -> List[List[str]]:
    """Each word's predicted label: the argmax at its first piece in its window (`O` for a word without pieces).

    Args:
      conll: the file the windows were made from.
      windows: its windows (`features.convert_file`), in order.
      logits: float32 [num windows (or more: padding), max_seq_length, num_labels], in window order.
      label_list: the labels in id order.

    Returns:
      Per sentence, one IOB2 label per word.
    """
    predicted = [[OUTSIDE] * len(sentence.words) for sentence in conll.sentences]
    best = logits.argmax(axis=-1)
    for row, window in enumerate(windows):
        for position, sentence_index, word_index in window.labelled_words():
            predicted[sentence_index][word_index] = label_list[best[row, position]]
    return predicted


def prediction_lines(conll: ConllFile, predicted: Sequence[Sequence[str]]) -> Iterator[str]:
    """conlleval's input: `word gold predicted` lines (`word predicted` untagged), a blank line after each
    sentence, `-DOCSTART-` lines (with `O` tags) where the file has them; the tags in the file's scheme."""
    docstarts = collections.Counter(conll.docstarts)
    docstart_line = f"{DOCSTART} O O\n\n" if conll.tagged else f"{DOCSTART} O\n\n"
    for index, sentence in enumerate(conll.sentences):
        yield docstart_line * docstarts[index]
        gold = sentence.tags if conll.tagged else [None] * len(sentence.words)
        in_scheme = tag_schemes.from_iob2(predicted[index], conll.scheme)
        for word, gold_tag, predicted_tag in zip(sentence.words, gold, in_scheme):
            yield f"{word} {gold_tag} {predicted_tag}\n" if conll.tagged else f"{word} {predicted_tag}\n"
        yield "\n"
    yield docstart_line * docstarts[len(conll.sentences)]


def json_lines(conll: ConllFile, predicted: Sequence[Sequence[str]]) -> Iterator[str]:
    """One JSON object per sentence: its tokens and predicted tags (scheme of the file), or for a span file
    its text and predicted entity spans; and its `doc_id`, if it has one."""
    for sentence, labels in zip(conll.sentences, predicted):
        if conll.data_format == "spans":
            record = {"text": sentence.text, "label": entity_spans(sentence.text, sentence.offsets, labels)}
        else:
            record = {"tokens": sentence.words, "tags": tag_schemes.from_iob2(labels, conll.scheme)}
        if sentence.document_id is not None:
            record["doc_id"] = sentence.document_id
        yield json.dumps(record, ensure_ascii=False) + "\n"


def entity_spans(text: str, offsets: Sequence[int], labels: Sequence[str]) -> Dict[str, Dict[str, List[List[int]]]]:
    """CLUENER's `{type: {entity text: [[start, end], ...]}}` (end inclusive) of IOB2 labels over `offsets`."""
    spans: Dict[str, Dict[str, List[List[int]]]] = {}
    for entity_type, first, last in chunks(labels):
        start, end = offsets[first], offsets[last]
        spans.setdefault(entity_type, {}).setdefault(text[start:end + 1], []).append([start, end])
    return spans


def write_predictions(path: str, conll: ConllFile, predicted: Sequence[Sequence[str]]) -> None:
    """Writes the predictions of `conll` in its format (`prediction_lines` or `json_lines`) to `path`
    atomically."""
    lines = prediction_lines(conll, predicted) if conll.data_format == "conll" else json_lines(conll, predicted)
    with files.atomic_writer(path) as writer:
        for text in lines:
            writer.write(text)
