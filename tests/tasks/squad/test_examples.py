"""Tests for bert_tf.tasks.squad.examples: the SQuAD file's paragraphs split into words as the original splits
them, and training answers that cannot be recovered skipped and counted."""
import json

from bert_tf.tasks.squad.examples import read_squad_file, split_context, squad_examples


def write_json(path, value):
    """Writes `value` as JSON to `path`; returns the path as a string."""
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def squad_json(context, qas, version="1.1"):
    """A SQuAD file of one paragraph: `context` and its questions `qas`."""
    return {"version": version, "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}


def test_context_split_on_the_original_whitespace_only():
    text = "a b\tc\r\nd\u202fe\u00a0f  g"
    words, offsets = split_context(text)
    assert words == ["a", "b", "c", "d", "e\u00a0f", "g"]  # no-break space is not whitespace here
    assert len(offsets) == len(text)
    assert offsets[text.index("c")] == 2 and offsets[text.index("g")] == 5
    assert offsets[1] == 0  # a space belongs to the word before it


def test_unrecoverable_training_answer_is_skipped_and_counted(tmp_path):
    context = "Alpha beta gamma."
    qas = [{"id": "ok", "question": "q?", "answers": [{"text": "beta", "answer_start": 6}]},
           {"id": "bad", "question": "q?", "answers": [{"text": "bet gamma", "answer_start": 6}]}]
    squad_file = read_squad_file(write_json(tmp_path / "train.json", squad_json(context, qas)), "train_file")
    examples, stats = squad_examples(squad_file, is_training=True)
    assert [example.qas_id for example in examples] == ["ok"] and stats.num_skipped == 1
