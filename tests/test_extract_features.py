"""`extract_features.py`: original input/packing/JSON format, and parity with the MiniLM reference.

The reference (`refs/minilm_l6_h384_uncased_public.npz`) was computed at max_seq_length 64 with
`run_classifier.py`'s packing; extract_features packs the same way (`[CLS] A [SEP] B [SEP]`, pairs
truncated to max_seq_length-3, singles cut to max_seq_length-2), which the tests check on the ids.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import BertConfig, tokenization
from bert_tf.tasks.feature_extraction import examples as extraction_examples
from bert_tf.tasks.feature_extraction import features
from bert_tf.tasks.feature_extraction import predictions as extraction
from bert_tf.training.run_options import resolve_model_files

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
import extract_features  # noqa: E402

MINILM = "minilm_l6_h384_uncased"
ALL_LAYERS = "-1,-2,-3,-4,-5,-6"
TOLERANCE = 1e-4  # MiniLM reference tolerance at real tokens (refs/README.md)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def sentences(refs_dir):
    with open(refs_dir / "sentences_public.json", encoding="utf-8") as reader:
        return json.load(reader)


@pytest.fixture(scope="module")
def reference(refs_dir):
    with np.load(refs_dir / f"{MINILM}_public.npz") as data:
        return {key: data[key] for key in data.files}


def _input_line(example):
    return example["text_a"] + (f" ||| {example['text_b']}" if example["text_b"] else "")


@pytest.fixture(scope="module")
def input_file(sentences, tmp_path_factory):
    path = tmp_path_factory.mktemp("extract_input") / "input.txt"
    path.write_text("".join(_input_line(example) + "\n" for example in sentences["examples"]), encoding="utf-8")
    return path


def _flags(input_file, output_file, checkpoint_dir, **overrides):
    values = {
        "input_file": input_file,
        "output_file": output_file,
        "vocab_file": checkpoint_dir / "vocab.txt",
        "bert_config_file": checkpoint_dir / "bert_config.json",
        "init_checkpoint": checkpoint_dir / "bert_model.ckpt",
        "layers": ALL_LAYERS,
        "max_seq_length": 64,
        "batch_size": 5,  # 12 lines: batches of 5, 5, 2 of different padded lengths
    }
    values.update(overrides)
    return ["extract_features.py"] + [f"--{name}={value}" for name, value in values.items() if value is not None]


@pytest.fixture(scope="module")
def in_process_output(input_file, minilm_ckpt_dir, tmp_path_factory):
    output_file = tmp_path_factory.mktemp("extract_output") / "nested" / "features.jsonl"
    status = extract_features.main(_flags(input_file, output_file, minilm_ckpt_dir, log_every_n_examples=5))
    assert status == 0
    return output_file


def _read_lines(path):
    with open(path, encoding="utf-8") as reader:
        return reader.read().splitlines()


def _assert_matches_reference(lines, sentences, reference, layer_indexes):
    all_layers = reference["all_encoder_layers"]  # [L, B, S, H]
    assert len(lines) == len(sentences["examples"])
    for line, example in zip(lines, sentences["examples"]):
        output = json.loads(line)
        row = example["index"]
        assert output["linex_index"] == row
        assert [token["token"] for token in output["features"]] == example["packed_tokens"]
        assert len(output["features"]) == int(reference["input_mask"][row].sum())
        for position, token in enumerate(output["features"]):
            assert [layer["index"] for layer in token["layers"]] == layer_indexes
            for layer in token["layers"]:
                values = np.array(layer["values"])
                assert values.shape == (all_layers.shape[-1],)
                np.testing.assert_allclose(values, all_layers[layer["index"], row, position], atol=TOLERANCE, rtol=0)


# ------------------------------------------------------------------------------------- parity, format
def test_all_six_layers_reproduce_reference(in_process_output, sentences, reference):
    _assert_matches_reference(_read_lines(in_process_output), sentences, reference, [-1, -2, -3, -4, -5, -6])
    assert os.listdir(in_process_output.parent) == ["features.jsonl"]  # no temporary file left


def test_json_layout_is_the_original(in_process_output):
    lines = _read_lines(in_process_output)
    # json.dumps defaults (", " and ": " separators, ASCII) and the original key order.
    assert lines[0].startswith('{"linex_index": 0, "features": [{"token": "[CLS]", "layers": [{"index": -1, "values": [')
    for line in lines:
        pairs = json.loads(line, object_pairs_hook=lambda items: items)
        assert [key for key, _ in pairs] == ["linex_index", "features"]
        for token in pairs[1][1]:
            assert [key for key, _ in token] == ["token", "layers"]
            for layer in token[1][1]:
                assert [key for key, _ in layer] == ["index", "values"]
    # Values are round(float(x), 6): no number written with more than 6 decimals.
    numbers = re.findall(r"-?\d+\.(\d+)(?:e-?\d+)?", lines[0])
    assert numbers and max(len(digits) for digits in numbers) <= 6


def test_feature_to_json_rounds_like_the_original():
    feature = features.InputFeatures(unique_id=7, tokens=["[CLS]", "[SEP]"], input_ids=[101, 102, 0],
                                     input_mask=[1, 1, 0], input_type_ids=[0, 0, 0])
    layer_outputs = np.array([[[0.12345678, -1.0000004], [2.5e-7, 3.0], [9.0, 9.0]]], dtype=np.float32)
    line = features.feature_to_json(feature, layer_outputs, [-2])
    expected = {"linex_index": 7, "features": [
        {"token": "[CLS]", "layers": [{"index": -2, "values": [round(float(np.float32(0.12345678)), 6), -1.0]}]},
        {"token": "[SEP]", "layers": [{"index": -2, "values": [0.0, 3.0]}]},
    ]}
    assert json.loads(line) == expected
    assert line == json.dumps(expected)


def test_packing_equals_reference_packing(sentences, reference, minilm_ckpt_dir):
    """extract_features' packing gives the reference's ids, mask and segments (the truncated pair too)."""
    tokenizer = tokenization.FullTokenizer(minilm_ckpt_dir / "vocab.txt", do_lower_case=True)
    examples = [extraction_examples.parse_line(_input_line(example), example["index"]) for example in sentences["examples"]]
    packed = features.convert_examples_to_features(examples, 64, tokenizer)
    assert any(example["truncated"] and example["text_b"] for example in sentences["examples"])
    for feature, example in zip(packed, sentences["examples"]):
        row = example["index"]
        assert feature.tokens == example["packed_tokens"]
        assert feature.input_ids == reference["input_ids"][row].tolist()
        assert feature.input_mask == reference["input_mask"][row].tolist()
        assert feature.input_type_ids == reference["segment_ids"][row].tolist()


def test_batch_padding_does_not_change_real_token_values(sentences, minilm_ckpt_dir):
    """Padding a batch to its longest example, not max_seq_length, gives the same numbers; one trace."""
    config = BertConfig.from_json_file(minilm_ckpt_dir / "bert_config.json")
    extractor = extraction.FeatureExtractor.from_checkpoint(config, str(minilm_ckpt_dir), [-1, 0])
    tokenizer = tokenization.FullTokenizer(minilm_ckpt_dir / "vocab.txt", do_lower_case=True)
    examples = [extraction_examples.parse_line(_input_line(example), example["index"]) for example in sentences["examples"][:4]]
    packed = features.convert_examples_to_features(examples, 64, tokenizer)
    trimmed = extractor(*features.batch_inputs(packed))
    full = extractor(*[np.array([getattr(f, name) for f in packed], np.int32)
                       for name in ("input_ids", "input_mask", "input_type_ids")])
    assert trimmed.shape == (2, 4, max(len(f.tokens) for f in packed), 384) and full.shape == (2, 4, 64, 384)
    for row, feature in enumerate(packed):
        length = len(feature.tokens)
        np.testing.assert_allclose(trimmed[:, row, :length], full[:, row, :length], atol=1e-5, rtol=0)
    assert extractor._forward.experimental_get_tracing_count() == 1


# ------------------------------------------------------------------------------------ command line
@pytest.mark.slow
def test_command_line_subprocess_with_bert_dir(input_file, minilm_ckpt_dir, sentences, reference, tmp_path):
    output_file = tmp_path / "cli.jsonl"
    command = [sys.executable, str(PROJECT_ROOT / "extract_features.py"), f"--input_file={input_file}",
               f"--output_file={output_file}", f"--bert_dir={minilm_ckpt_dir}", "--layers=-1,-6",
               "--max_seq_length=64", "--batch_size=8", "--use_tpu=false", "--num_tpu_cores=8",
               "--use_one_hot_embeddings=false", "--master=", "--log_every_n_examples=8"]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "examples/s" in result.stderr
    _assert_matches_reference(_read_lines(output_file), sentences, reference, [-1, -6])


def test_subprocess_error_is_one_line_without_traceback(tmp_path, input_file):
    command = [sys.executable, str(PROJECT_ROOT / "extract_features.py"), f"--input_file={input_file}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "extract_features.py: error: missing --output_file"


# -------------------------------------------------------------------------------------- bad input
def _run_expecting_error(argv, capsys):
    status = extract_features.main(argv)
    captured = capsys.readouterr()
    assert status != 0
    message = [line for line in captured.err.splitlines() if line.startswith("extract_features.py: error:")]
    assert len(message) == 1, captured.err
    assert "Traceback" not in captured.err
    return message[0]


def test_bad_input_gives_one_line_errors(input_file, minilm_ckpt_dir, tmp_path, capsys):
    output_file = tmp_path / "out.jsonl"
    error = _run_expecting_error(_flags(tmp_path / "missing.txt", output_file, minilm_ckpt_dir), capsys)
    assert "input file not found" in error and "missing.txt" in error
    error = _run_expecting_error(_flags(input_file, output_file, minilm_ckpt_dir, vocab_file=tmp_path / "v.txt"), capsys)
    assert "vocab file not found" in error
    error = _run_expecting_error(
        _flags(input_file, output_file, minilm_ckpt_dir, bert_config_file=tmp_path / "c.json"), capsys)
    assert "c.json" in error
    error = _run_expecting_error(
        _flags(input_file, output_file, minilm_ckpt_dir, init_checkpoint=tmp_path / "none.ckpt"), capsys)
    assert "none.ckpt" in error
    error = _run_expecting_error(_flags(input_file, output_file, minilm_ckpt_dir, max_seq_length=513), capsys)
    assert "--max_seq_length=513" in error and "max_position_embeddings=512" in error
    error = _run_expecting_error(_flags(input_file, output_file, minilm_ckpt_dir, layers="-1,-7"), capsys)
    assert "layer -7 does not exist" in error
    error = _run_expecting_error(_flags(input_file, output_file, minilm_ckpt_dir, layers="-1,x"), capsys)
    assert "'x' is not an integer" in error
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    error = _run_expecting_error(_flags(empty, output_file, minilm_ckpt_dir), capsys)
    assert "empty" in error
    bad_utf8 = tmp_path / "latin1.txt"
    bad_utf8.write_bytes(b"fine\ncaf\xe9\n")
    error = _run_expecting_error(_flags(bad_utf8, output_file, minilm_ckpt_dir), capsys)
    assert "latin1.txt:2" in error
    assert not output_file.exists()
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]


def test_flag_errors(input_file, minilm_ckpt_dir, tmp_path, capsys):
    error = _run_expecting_error(["extract_features.py", f"--input_file={input_file}"], capsys)
    assert "--output_file" in error
    error = _run_expecting_error(
        ["extract_features.py", f"--input_file={input_file}", f"--output_file={tmp_path / 'o'}"], capsys)
    assert "--vocab_file" in error and "--bert_dir" in error
    error = _run_expecting_error(_flags(input_file, tmp_path / "o", minilm_ckpt_dir) + ["--no_such_flag=1"], capsys)
    assert "no_such_flag" in error
    error = _run_expecting_error(_flags(input_file, tmp_path / "o", minilm_ckpt_dir, batch_size="many"), capsys)
    assert "batch_size" in error
    error = _run_expecting_error(["extract_features.py", f"--bert_dir={tmp_path / 'nowhere'}",
                                  f"--input_file={input_file}", f"--output_file={tmp_path / 'o'}"], capsys)
    assert "nowhere is not a folder" in error


def test_case_flag_is_checked_against_checkpoint_name(input_file, minilm_ckpt_dir, tmp_path, capsys):
    released_cased = tmp_path / "cased_L-12_H-768_A-12" / "bert_model.ckpt"
    error = _run_expecting_error(
        _flags(input_file, tmp_path / "o", minilm_ckpt_dir, init_checkpoint=released_cased), capsys)
    assert "--do_lower_case=True" in error and "cased_L-12_H-768_A-12" in error


def test_bert_dir_is_overridden_by_explicit_flags(tmp_path, minilm_ckpt_dir):
    files = resolve_model_files(str(minilm_ckpt_dir))
    assert files.vocab_file == str(minilm_ckpt_dir / "vocab.txt")
    assert files.bert_config_file == str(minilm_ckpt_dir / "bert_config.json")
    assert files.init_checkpoint == str(minilm_ckpt_dir / "bert_model.ckpt")
    files = resolve_model_files(str(minilm_ckpt_dir), vocab_file="my_vocab.txt", init_checkpoint="other.ckpt")
    assert (files.vocab_file, files.init_checkpoint) == ("my_vocab.txt", "other.ckpt")
    assert files.bert_config_file == str(minilm_ckpt_dir / "bert_config.json")


# ------------------------------------------------------------------------------------ input reading
def test_read_examples_like_the_original(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes("  Who was Jim Henson? ||| Jim Henson was a puppeteer.  \n\na ||| b ||| c\n"
                     "no separator|||here\n ||| lonely\u2028same line\r\nlast".encode("utf-8"))
    examples = extraction_examples.read_examples(str(path))
    assert examples == [
        extraction_examples.InputExample(0, "Who was Jim Henson?", "Jim Henson was a puppeteer."),
        extraction_examples.InputExample(1, "", None),
        extraction_examples.InputExample(2, "a ||| b", "c"),  # the original regex is greedy: the last separator splits
        extraction_examples.InputExample(3, "no separator|||here", None),
        extraction_examples.InputExample(4, "||| lonely\u2028same line", None),  # stripped first, then no " ||| " left
        extraction_examples.InputExample(5, "last", None),
    ]


def test_empty_text_b_and_empty_line_pack_as_single_segments(minilm_ckpt_dir):
    tokenizer = tokenization.FullTokenizer(minilm_ckpt_dir / "vocab.txt", do_lower_case=True)
    empty = features.convert_single_example(extraction_examples.InputExample(0, "", None), 8, tokenizer)
    assert empty.tokens == ["[CLS]", "[SEP]"] and empty.input_mask == [1, 1, 0, 0, 0, 0, 0, 0]
    no_b_tokens = features.convert_single_example(extraction_examples.InputExample(1, "hello world", "\u200b"), 8, tokenizer)
    assert no_b_tokens.tokens == ["[CLS]", "hello", "world", "[SEP]"]
    cut = features.convert_single_example(extraction_examples.InputExample(2, "one two three four five", None), 5, tokenizer)
    assert cut.tokens == ["[CLS]", "one", "two", "three", "[SEP]"] and cut.input_type_ids == [0] * 5
