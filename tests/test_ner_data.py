"""NER data: CoNLL reading, IOB1 -> IOB2, the label map, and windows that cover every word exactly once."""
import json
import random

import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.ner import examples, features, predictions
from bert_tf.tokenization import FullTokenizer

CONLL_TEXT = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
"""


@pytest.fixture(scope="module")
def tokenizer(tiny_ckpt_dir):
    return FullTokenizer(tiny_ckpt_dir / "vocab.txt", do_lower_case=True)


@pytest.fixture(scope="module")
def conll_words(data_dir):
    parsed = examples.read_conll_file(str(data_dir / "conll2003" / "train.txt"))
    return [word for sentence in parsed.sentences[:400] for word in sentence.words]


# ------------------------------------------------------------------------------------------------ reading
def test_iob1_is_read_as_iob2_and_docstarts_are_kept():
    parsed = examples.parse_conll("x.txt", CONLL_TEXT)
    assert [sentence.words for sentence in parsed.sentences] == [
        ["EU", "rejects", "German", "call"], ["Peter", "Blackburn", "Smith"], ["BRUSSELS"]]
    assert parsed.sentences[1].tags == ["I-PER", "I-PER", "B-PER"]
    assert [sentence.labels for sentence in parsed.sentences] == [
        ["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER", "B-PER"], ["B-LOC"]]
    assert parsed.docstarts == [0, 2] and parsed.tagged
    assert parsed.sentences[1].line_numbers == [8, 9, 10]
    assert examples.label_list_from_training(parsed) == [
        "O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.mark.parametrize("tags, expected", [
    (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),         # IOB1: adjacent entities of one type
    (["I-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"]),         # a change of type starts an entity
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # IOB2 unchanged
    (["O", "I-MISC"], ["O", "B-MISC"]),                                  # ill-formed IOB2 read as conlleval reads it
])
def test_iob1_to_iob2(tags, expected):
    assert examples.iob1_to_iob2(tags) == expected
    assert examples.iob1_to_iob2(expected) == expected


def test_the_shared_conll2003_files_parse(data_dir):
    parsed = examples.read_conll_file(str(data_dir / "conll2003" / "valid.txt"))
    assert len(parsed.sentences) == 3250 and parsed.num_words == 51362 and len(parsed.docstarts) == 216
    assert parsed.entity_types() == ["LOC", "MISC", "ORG", "PER"]


def test_words_only_file_is_untagged_and_mixed_columns_are_an_error():
    parsed = examples.parse_conll("p.txt", "Hello\nworld\n\nAgain\n", require_tags=False)
    assert not parsed.tagged and parsed.sentences[0].labels is None
    with pytest.raises(InputError, match=r"p\.txt:2: 2 columns"):
        examples.parse_conll("p.txt", "Hello\nworld O\n", require_tags=False)


@pytest.mark.parametrize("text, message", [
    ("EU B-ORG\nrejects\n", r"t\.txt:2: no tag column in 'rejects'"),
    ("-DOCSTART- -X- -X- O\n\n", r"t\.txt:1: the file has only -DOCSTART- lines"),
    ("", r"t\.txt:1: the file is empty"),
    ("\n\n  \n", r"t\.txt:1: the file is empty"),
    ("EU X-ORG\n", r"t\.txt:1: tag 'X-ORG' is not IOB1/IOB2"),
])
def test_malformed_text_names_file_and_line(text, message):
    with pytest.raises(InputError, match=message):
        examples.parse_conll("t.txt", text)


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"EU B-ORG\n\nCaf\xe9 O\n")
    with pytest.raises(InputError, match=r"bad\.txt:3: not UTF-8"):
        examples.read_conll_file(str(path))
    with pytest.raises(InputError, match=r"missing\.txt: no such file"):
        examples.read_conll_file(str(tmp_path / "missing.txt"))


def test_unknown_entity_type_in_dev_names_the_line():
    train = examples.parse_conll("train.txt", "EU B-ORG\nsays O\n")
    dev = examples.parse_conll("dev.txt", "Paris B-ORG\n\nParis I-LOC\n")
    with pytest.raises(InputError, match=r"dev\.txt:3: tag 'I-LOC' has entity type 'LOC'.*types: ORG"):
        examples.check_labels(dev, examples.label_list_from_training(train))


def test_label_map_round_trip(tmp_path):
    labels = examples.labels_for_types(["PER", "LOC"])
    path = examples.write_label_map(str(tmp_path), labels)
    assert json.loads((tmp_path / "label_map.json").read_text()) == {
        "O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}
    assert examples.read_label_map(path) == labels
    (tmp_path / "label_map.json").write_text('{"O": 0, "B-PER": 2}')
    with pytest.raises(InputError, match="label ids must be"):
        examples.read_label_map(path)


# ------------------------------------------------------------------------------------------------ windows
def test_window_spans_and_max_context():
    assert features.window_spans(0, 6, 3) == []
    assert features.window_spans(5, 6, 3) == [(0, 5)]
    assert features.window_spans(13, 6, 3) == [(0, 6), (3, 6), (6, 6), (9, 4)]
    spans = features.window_spans(13, 6, 3)
    assert [features.max_context_window(spans, position) for position in range(13)] == [
        0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]  # ties go to the earlier window


def check_windows_cover_every_word_once(windows, sentence_index, words, tokenizer, max_seq_length, label_ids):
    pieces = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) for word in words]
    seen = []
    for window in windows:
        assert window.sentence_index == sentence_index
        assert len(window.input_ids) <= max_seq_length
        assert window.input_ids[0] == tokenizer.vocab["[CLS]"] and window.input_ids[-1] == tokenizer.vocab["[SEP]"]
        for position, word_index, label_id in zip(window.positions, window.word_indices, window.label_ids):
            word_pieces = pieces[word_index]
            end = min(len(window.input_ids) - 1, position + len(word_pieces))
            assert window.input_ids[position:end] == word_pieces[:end - position]  # the first piece(s)
            assert label_id == label_ids[word_index]
            seen.append(word_index)
        padded = window.padded_label_ids(max_seq_length)
        assert sum(label != -1 for label in padded) == len(window.positions)
    with_pieces = [index for index, word_pieces in enumerate(pieces) if word_pieces]
    assert sorted(seen) == with_pieces  # every word with pieces exactly once


@pytest.mark.parametrize("num_words, max_seq_length", [(1000, 32), (1000, 128), (40, 16), (7, 128)])
def test_windows_cover_every_word_exactly_once(tokenizer, conll_words, num_words, max_seq_length):
    rng = random.Random(num_words + max_seq_length)
    words = [rng.choice(conll_words) for _ in range(num_words)]
    words[3] = "supercalifragilisticexpialidocious-antidisestablishmentarianism"  # many pieces
    label_ids = [rng.randrange(9) for _ in words]
    windows, empty = features.sentence_windows(5, words, label_ids, tokenizer, max_seq_length)
    assert empty == 0
    check_windows_cover_every_word_once(windows, 5, words, tokenizer, max_seq_length, label_ids)
    if num_words == 1000:
        assert len(windows) > 1


def test_each_word_is_labeled_where_it_has_most_context(tokenizer):
    words = [f"w{index}" for index in range(60)]  # "w", "##0", ...: several pieces per word
    windows, _ = features.sentence_windows(0, words, [0] * 60, tokenizer, 16, stride=4)
    piece_ids, first_pieces = features.word_pieces(tokenizer, words)
    spans = features.window_spans(len(piece_ids), 14, 4)
    by_word = {word: (index, position) for index, window in enumerate(windows)
               for word, position in zip(window.word_indices, window.positions)}
    kept = [index for index, (start, length) in enumerate(spans)
            if any(features.max_context_window(spans, piece) == index for piece in first_pieces)]
    for word_index, first_piece in enumerate(first_pieces):
        best = features.max_context_window(spans, first_piece)
        window_index, position = by_word[word_index]
        assert kept[window_index] == best and position == first_piece - spans[best][0] + 1


def test_words_without_pieces_are_tagged_o(tokenizer):
    text = "Japan B-LOC\n\u200b B-PER\nwins O\n\x07 I-PER\n"
    conll = examples.parse_conll("z.txt", text)
    label_list = examples.label_list_from_training(examples.parse_conll("t.txt", "A B-LOC\nB B-PER\n"))
    converted = features.convert_file(conll, label_list, tokenizer, 16)
    assert converted.num_words == 4 and converted.num_empty_words == 2
    [window] = converted.windows
    assert window.word_indices == [0, 2]
    logits = np.zeros((1, 16, len(label_list)), np.float32)
    logits[0, :, label_list.index("B-PER")] = 1.0
    assert predictions.decode(conll, converted.windows, logits, label_list) == [["B-PER", "O", "B-PER", "O"]]
    lines = "".join(predictions.prediction_lines(conll, [["B-PER", "O", "B-PER", "O"]])).splitlines()
    assert lines == ["Japan B-LOC B-PER", "\u200b B-PER O", "wins O B-PER", "\x07 I-PER O", ""]


def test_tfrecords_hold_padded_windows(tmp_path, tokenizer):
    import tensorflow as tf

    from bert_tf.training import datasets

    conll = examples.parse_conll("t.txt", CONLL_TEXT)
    label_list = examples.label_list_from_training(conll)
    converted = features.convert_file(conll, label_list, tokenizer, 16)
    path = str(tmp_path / "train.tf_record")
    assert features.write_windows(converted.windows, path, 16, num_padding=2) == len(converted.windows) + 2
    layout = features.record_layout(16, with_labels=True)
    datasets.check_records(path, layout, len(converted.windows) + 2)
    with pytest.raises(ValueError, match="records, 3 expected"):
        datasets.check_records(path, layout, 3)
    batch = next(iter(datasets.inference_dataset(path, features.record_layout(16, with_labels=False), 5)))
    assert sorted(batch) == ["input_ids", "input_mask", "segment_ids"] and batch["input_ids"].shape == (5, 8)  # the longest window (4 words + 2) rounded up to 8
    records = list(tf.data.TFRecordDataset(path).batch(10).as_numpy_iterator())[0]
    parsed, label_ids = layout.split_labels(layout.parse(tf.constant(records)))
    first = converted.windows[0]
    assert label_ids.shape == (5, 8)
    assert label_ids[0].numpy().tolist() == first.padded_label_ids(16)[:8]
    assert parsed["input_mask"][0].numpy().tolist()[:len(first.input_ids)] == [1] * len(first.input_ids)
    assert label_ids[-1].numpy().tolist() == [-1] * 8 and parsed["input_ids"][-1].numpy().sum() == 0
