"""Tests for bert_tf.tasks.squad.features: the original's windows (doc spans, max-context flags) and answer
positions, and their TFRecords."""
import json

import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.squad import features as squad_features
from bert_tf.tasks.squad.examples import read_squad_file, squad_examples
from tests.tasks.squad.test_examples import squad_json, write_json

REF_FLAGS = {"max_seq_length": 128, "doc_stride": 64, "max_query_length": 32}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_windows_equal_the_original_features(refs_dir, squad_tokenizer, version):
    reference = json.loads((refs_dir / "squad" / version / "features.json").read_text(encoding="utf-8"))
    examples, _ = squad_examples(read_squad_file(str(refs_dir / "squad" / version / "predict.json")), False)
    windows = list(squad_features.convert_examples_to_features(examples, squad_tokenizer, is_training=False,
                                                               **REF_FLAGS))
    ours = [{"unique_id": window.unique_id, "example_index": window.example_index,
             "doc_span_index": window.doc_span_index, "input_ids": window.input_ids,
             "token_is_max_context": {str(key): value for key, value in window.token_is_max_context.items()}}
            for window in windows]
    assert len(ours) == len(reference)
    for mine, theirs in zip(ours, reference):
        assert mine == theirs, mine["unique_id"]


def test_doc_spans_cover_every_token_with_one_max_context_window():
    for num_tokens in (1, 5, 61, 62, 63, 200, 517):
        spans = squad_features.doc_spans_for(num_tokens, max_tokens_for_doc=61, doc_stride=20)
        assert spans[0].start == 0 and spans[-1].start + spans[-1].length == num_tokens
        assert all(span.length <= 61 for span in spans)
        assert all(later.start - earlier.start == 20 for earlier, later in zip(spans, spans[1:]))
        for position in range(num_tokens):
            owners = [index for index in range(len(spans))
                      if spans[index].start <= position < spans[index].start + spans[index].length
                      and squad_features.check_is_max_context(spans, index, position)]
            assert len(owners) == 1


def test_check_is_max_context_prefers_the_centered_window():
    # The original docstring's example: "bought" has more context in span C than in span B.
    spans = [squad_features.DocSpan(0, 5), squad_features.DocSpan(3, 5), squad_features.DocSpan(6, 5)]
    assert squad_features.check_is_max_context(spans, 2, 7)
    assert not squad_features.check_is_max_context(spans, 1, 7)


def test_training_positions_improved_span_and_out_of_window(tmp_path, squad_tokenizer):
    context = "The leader was John Smith (1895-1943). " + " ".join(["filler"] * 60) + " Japanese electronics."
    qas = [{"id": "year", "question": "What year was he born?", "answers": [{"text": "1895",
                                                                            "answer_start": context.index("1895")}]},
           {"id": "far", "question": "Which country?", "answers": [{"text": "Japan",
                                                                   "answer_start": context.index("Japan")}]}]
    squad_file = read_squad_file(write_json(tmp_path / "train.json", squad_json(context, qas)), "train_file")
    examples, stats = squad_examples(squad_file, is_training=True)
    assert stats.num_skipped == 0 and [example.qas_id for example in examples] == ["year", "far"]
    windows = list(squad_features.convert_examples_to_features(examples, squad_tokenizer, 48, 16, 16, is_training=True))
    year = [window for window in windows if window.example_index == 0]
    # "(1895-1943)." is one word; the answer is cut down to the "1895" word piece in the first window.
    assert len(year) > 1 and year[0].tokens[year[0].start_position:year[0].end_position + 1] == ["1895"]
    assert all(window.start_position == window.end_position == 0 for window in year[1:])  # answer not inside
    far = [window for window in windows if window.example_index == 1]
    inside = [window for window in far if window.start_position > 0]
    assert inside and all(window.tokens[window.start_position] == "japanese" for window in inside)
    assert far[0].start_position == far[0].end_position == 0
    unique_ids = [window.unique_id for window in windows]
    assert unique_ids == list(range(1000000000, 1000000000 + len(windows)))


def test_version_2_impossible_training_question(tmp_path, squad_tokenizer):
    qas = [{"id": "no", "question": "q?", "is_impossible": True, "answers": []}]
    squad_file = read_squad_file(write_json(tmp_path / "train.json", squad_json("Alpha beta.", qas, "v2.0")))
    examples, _ = squad_examples(squad_file, is_training=True, version_2_with_negative=True)
    assert examples[0].is_impossible and examples[0].start_position == -1
    window, = squad_features.convert_examples_to_features(examples, squad_tokenizer, 32, 8, 8, is_training=True)
    assert (window.start_position, window.end_position, window.is_impossible) == (0, 0, True)
    with pytest.raises(InputError, match="'no' is_impossible: a SQuAD 2.0 file trains with --version_2_with_negative"):
        squad_examples(squad_file, is_training=True, version_2_with_negative=False)


def test_training_records_round_trip(tmp_path, squad_tokenizer):
    import tensorflow as tf

    from bert_tf.training import datasets

    context = " ".join(f"word{index}" for index in range(40))
    qas = [{"id": f"q{index}", "question": f"which word {index}?",
            "answers": [{"text": f"word{index}", "answer_start": context.index(f"word{index} ")}]}
           for index in range(0, 30, 3)]
    squad_file = read_squad_file(write_json(tmp_path / "train.json", squad_json(context, qas)), "train_file")
    examples, _ = squad_examples(squad_file, is_training=True)
    windows = list(squad_features.convert_examples_to_features(examples, squad_tokenizer, 64, 32, 16, is_training=True))
    path = str(tmp_path / "train.tf_record")
    assert squad_features.write_features(windows, path, is_training=True) == len(windows)
    datasets.check_records(path, squad_features.record_layout(64, is_training=True), len(windows))
    batches = datasets.inference_dataset(path, squad_features.record_layout(64, is_training=False), 4)
    parsed = [batch for batch in batches]
    assert sum(int(batch["input_ids"].shape[0]) for batch in parsed) == len(windows)
    first = parsed[0]
    longest = max(sum(window.input_mask) for window in windows[:4])
    assert first["input_ids"].shape[1] == min(64, -(-longest // 8) * 8)
    assert first["unique_ids"].dtype == tf.int64
    train_batches = datasets.training_dataset(path, squad_features.record_layout(64, is_training=True), 4, 100,
                                              seed=1)
    features, labels = next(iter(train_batches))
    assert set(labels) == {"start_positions", "end_positions"}
    assert int(tf.reduce_max(labels["end_positions"])) < int(features["input_ids"].shape[1])
