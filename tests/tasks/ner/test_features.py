"""Tests for bert_tf.tasks.ner.features: windows that cover every word exactly once (each word labeled where it
has most context), and their TFRecords."""
import random

import pytest

from bert_tf.tasks.ner import examples, features
from bert_tf.tokenization import packing
from tests.tasks.ner.test_examples import CONLL_TEXT


@pytest.fixture(scope="module")
def conll_words(data_dir):
    parsed = examples.read_conll_file(str(data_dir / "conll2003" / "train.txt"))
    return [word for sentence in parsed.sentences[:400] for word in sentence.words]


def test_window_spans_and_max_context():
    assert packing.window_spans(0, 6, 3) == []
    assert packing.window_spans(5, 6, 3) == [(0, 5)]
    assert packing.window_spans(13, 6, 3) == [(0, 6), (3, 6), (6, 6), (9, 4)]
    spans = packing.window_spans(13, 6, 3)
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
def test_windows_cover_every_word_exactly_once(tiny_tokenizer, conll_words, num_words, max_seq_length):
    rng = random.Random(num_words + max_seq_length)
    words = [rng.choice(conll_words) for _ in range(num_words)]
    words[3] = "supercalifragilisticexpialidocious-antidisestablishmentarianism"  # many pieces
    label_ids = [rng.randrange(9) for _ in words]
    windows, empty = features.sentence_windows(5, words, label_ids, tiny_tokenizer, max_seq_length)
    assert empty == 0
    check_windows_cover_every_word_once(windows, 5, words, tiny_tokenizer, max_seq_length, label_ids)
    if num_words == 1000:
        assert len(windows) > 1


def test_each_word_is_labeled_where_it_has_most_context(tiny_tokenizer):
    words = [f"w{index}" for index in range(60)]  # "w", "##0", ...: several pieces per word
    windows, _ = features.sentence_windows(0, words, [0] * 60, tiny_tokenizer, 16, stride=4)
    piece_ids, first_pieces = features.word_pieces(tiny_tokenizer, words)
    spans = packing.window_spans(len(piece_ids), 14, 4)
    by_word = {word: (index, position) for index, window in enumerate(windows)
               for word, position in zip(window.word_indices, window.positions)}
    kept = [index for index, (start, length) in enumerate(spans)
            if any(features.max_context_window(spans, piece) == index for piece in first_pieces)]
    for word_index, first_piece in enumerate(first_pieces):
        best = features.max_context_window(spans, first_piece)
        window_index, position = by_word[word_index]
        assert kept[window_index] == best and position == first_piece - spans[best][0] + 1


def test_tfrecords_hold_padded_windows(tmp_path, tiny_tokenizer):
    import tensorflow as tf

    from bert_tf.training import datasets

    conll = examples.parse_conll("t.txt", CONLL_TEXT)
    label_list = examples.label_list_from_training(conll)
    converted = features.convert_file(conll, label_list, tiny_tokenizer, 16)
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


def test_document_windows_run_over_sentences_and_equal_one_paragraph(tiny_tokenizer, conll_words):
    rng = random.Random(7)
    sentences = [[rng.choice(conll_words) for _ in range(rng.randrange(3, 25))] for _ in range(12)]
    labels = [[rng.randrange(9) for _ in sentence] for sentence in sentences]
    windows, empty = features.document_windows(list(range(3, 15)), sentences, labels, tiny_tokenizer, 32)
    assert empty == 0 and len(windows) > 2
    assert any(len(set(window.sentence_indices)) > 1 for window in windows)  # windows span sentences
    seen = sorted((sentence, word) for window in windows for _, sentence, word in window.labelled_words())
    assert seen == [(3 + index, word) for index, sentence in enumerate(sentences) for word in range(len(sentence))]
    for window in windows:
        for position, sentence_index, word_index, label_id in zip(
                window.positions, window.sentence_indices, window.word_indices, window.label_ids):
            word = sentences[sentence_index - 3][word_index]
            assert window.input_ids[position] == tiny_tokenizer.convert_tokens_to_ids(tiny_tokenizer.tokenize(word))[0]
            assert label_id == labels[sentence_index - 3][word_index]
    # The same document as one sentence (a paragraph) gets the same windows.
    paragraph = [word for sentence in sentences for word in sentence]
    flat, _ = features.sentence_windows(0, paragraph, [label for row in labels for label in row], tiny_tokenizer, 32)
    assert [window.input_ids for window in flat] == [window.input_ids for window in windows]
    assert [window.positions for window in flat] == [window.positions for window in windows]


def test_convert_file_with_documents(tiny_tokenizer):
    text = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-NP B-MISC\n\n"
            "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n")
    conll = examples.parse_conll("t.txt", text)
    assert examples.documents(conll) == [[0, 1], [2]]
    label_list = examples.label_list_from_training(conll)
    converted = features.convert_file(conll, label_list, tiny_tokenizer, 16, documents=examples.documents(conll))
    assert [window.sentence_indices for window in converted.windows] == [[0, 0, 1], [2, 2]]
    assert converted.num_words == 5 and converted.num_sentences == 3


def test_documents_of_json_lines_and_of_files_without_boundaries(caplog):
    import json

    lines = [{"tokens": ["a"], "tags": ["O"], "doc_id": "d1"}, {"tokens": ["b"], "tags": ["O"], "doc_id": "d1"},
             {"tokens": ["c"], "tags": ["O"], "doc_id": 2}, {"tokens": ["d"], "tags": ["O"]}]
    parsed = examples.parse_jsonl("t.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    assert examples.documents(parsed) == [[0, 1], [2], [3]]
    assert [sentence.document_id for sentence in parsed.sentences] == ["d1", "d1", "2", None]
    plain = examples.parse_conll("t.txt", "EU B-ORG\n\nrejects O\n\n")
    assert examples.documents(plain) == [[0], [1]]
    assert "t.txt has no -DOCSTART- line" in caplog.text
