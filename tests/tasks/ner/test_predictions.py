"""Tests for bert_tf.tasks.ner.predictions: a tag for every word (O for words without word pieces), and the
prediction file's lines."""
import numpy as np

from bert_tf.tasks.ner import examples, features, predictions


def test_words_without_pieces_are_tagged_o(tiny_tokenizer):
    text = "Japan B-LOC\n\u200b B-PER\nwins O\n\x07 I-PER\n"
    conll = examples.parse_conll("z.txt", text)
    label_list = examples.label_list_from_training(examples.parse_conll("t.txt", "A B-LOC\nB B-PER\n"))
    converted = features.convert_file(conll, label_list, tiny_tokenizer, 16)
    assert converted.num_words == 4 and converted.num_empty_words == 2
    [window] = converted.windows
    assert window.word_indices == [0, 2]
    logits = np.zeros((1, 16, len(label_list)), np.float32)
    logits[0, :, label_list.index("B-PER")] = 1.0
    assert predictions.decode(conll, converted.windows, logits, label_list) == [["B-PER", "O", "B-PER", "O"]]
    # The file is IOB1 (its last I-PER starts an entity): the predictions are written back in IOB1.
    assert conll.scheme == "iob1"
    lines = "".join(predictions.prediction_lines(conll, [["B-PER", "O", "B-PER", "O"]])).splitlines()
    assert lines == ["Japan B-LOC I-PER", "\u200b B-PER O", "wins O I-PER", "\x07 I-PER O", ""]
    conll.scheme = "iob2"
    lines = "".join(predictions.prediction_lines(conll, [["B-PER", "O", "B-PER", "O"]])).splitlines()
    assert lines == ["Japan B-LOC B-PER", "\u200b B-PER O", "wins O B-PER", "\x07 I-PER O", ""]


def test_json_predictions_keep_the_input_format_and_scheme(tmp_path):
    import json

    tokens = tmp_path / "test.jsonl"
    tokens.write_text(json.dumps({"tokens": ["New", "York", "is"], "tags": ["B-LOC", "E-LOC", "O"]}) + "\n",
                      encoding="utf-8")
    parsed = examples.read_ner_file(str(tokens))
    out = tmp_path / "out.jsonl"
    predictions.write_predictions(str(out), parsed, [["B-LOC", "I-LOC", "B-PER"]])
    assert json.loads(out.read_text()) == {"tokens": ["New", "York", "is"], "tags": ["B-LOC", "E-LOC", "S-PER"]}
    spans = tmp_path / "test.json"
    spans.write_text(json.dumps({"text": "在 台湾", "label": {}}, ensure_ascii=False) + "\n", encoding="utf-8")
    parsed = examples.read_ner_file(str(spans))
    predictions.write_predictions(str(out), parsed, [["O", "B-address", "I-address"]])
    assert json.loads(out.read_text()) == {"text": "在 台湾", "label": {"address": {"台湾": [[2, 3]]}}}
    assert predictions.predictions_file("dev", "spans") == "eval_predictions.json"
