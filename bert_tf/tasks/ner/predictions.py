"""NER model outputs -> one label per word -> conlleval's prediction files.

`decode` takes each word's label at its first piece, in the window where it has the most context
(`features.convert_file` put it in that window only); a word without pieces is `O`. `prediction_lines`
writes `word gold predicted` (or `word predicted` for an untagged file), a blank line after each sentence,
the file's `-DOCSTART-` lines kept: what `conlleval` reads.
"""
from __future__ import annotations

import collections
from typing import Iterator, List, Sequence

import numpy as np

from bert_tf import files
from bert_tf.tasks.ner.examples import DOCSTART, OUTSIDE, ConllFile
from bert_tf.tasks.ner.features import WindowFeature

EVAL_PREDICTIONS_FILE = "eval_predictions.txt"
TEST_PREDICTIONS_FILE = "test_predictions.txt"


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
        sentence = predicted[window.sentence_index]
        for position, word_index in zip(window.positions, window.word_indices):
            sentence[word_index] = label_list[best[row, position]]
    return predicted


def prediction_lines(conll: ConllFile, predicted: Sequence[Sequence[str]]) -> Iterator[str]:
    """conlleval's input: `word gold predicted` lines (`word predicted` untagged), a blank line after each
    sentence, `-DOCSTART-` lines (with `O` tags) where the file has them."""
    docstarts = collections.Counter(conll.docstarts)
    docstart_line = f"{DOCSTART} O O\n\n" if conll.tagged else f"{DOCSTART} O\n\n"
    for index, sentence in enumerate(conll.sentences):
        yield docstart_line * docstarts[index]
        gold = sentence.tags if conll.tagged else [None] * len(sentence.words)
        for word, gold_tag, predicted_tag in zip(sentence.words, gold, predicted[index]):
            yield f"{word} {gold_tag} {predicted_tag}\n" if conll.tagged else f"{word} {predicted_tag}\n"
        yield "\n"
    yield docstart_line * docstarts[len(conll.sentences)]


def write_predictions(path: str, conll: ConllFile, predicted: Sequence[Sequence[str]]) -> None:
    """Writes `prediction_lines` to `path` atomically."""
    with files.atomic_writer(path) as writer:
        for text in prediction_lines(conll, predicted):
            writer.write(text)
