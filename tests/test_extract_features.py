"""extract_features.py: original input/packing/JSON format, and parity with the MiniLM reference; flags and
one-line errors. (The library parts: tests/tasks/feature_extraction/.)

The reference (`refs/minilm_l6_h384_uncased_public.npz`) was computed at max_seq_length 64 with
`run_classifier.py`'s packing; extract_features packs the same way (`[CLS] A [SEP] B [SEP]`, pairs
truncated to max_seq_length-3, singles cut to max_seq_length-2), which tests/tasks/feature_extraction checks on
the ids.
"""
import json
import os
import re

import numpy as np
import pytest

from tests.harness.scripts import assert_fails_cleanly, error_lines, run_main, run_script

ALL_LAYERS = "-1,-2,-3,-4,-5,-6"
TOLERANCE = 1e-4  # MiniLM reference tolerance at real tokens (refs/README.md)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def input_file(reference_input_lines, tmp_path_factory):
    path = tmp_path_factory.mktemp("extract_input") / "input.txt"
    path.write_text("".join(line + "\n" for line in reference_input_lines), encoding="utf-8")
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
    return [f"--{name}={value}" for name, value in values.items() if value is not None]


@pytest.fixture(scope="module")
def in_process_output(input_file, minilm_ckpt_dir, tmp_path_factory):
    output_file = tmp_path_factory.mktemp("extract_output") / "nested" / "features.jsonl"
    status = run_main("extract_features", *_flags(input_file, output_file, minilm_ckpt_dir, log_every_n_examples=5))
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
def test_all_six_layers_reproduce_reference(in_process_output, reference_sentences, minilm_reference):
    _assert_matches_reference(_read_lines(in_process_output), reference_sentences, minilm_reference,
                              [-1, -2, -3, -4, -5, -6])
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


# ------------------------------------------------------------------------------------ command line
@pytest.mark.slow
def test_command_line_subprocess_with_bert_dir(input_file, minilm_ckpt_dir, reference_sentences, minilm_reference,
                                               tmp_path):
    output_file = tmp_path / "cli.jsonl"
    result = run_script("extract_features.py", f"--input_file={input_file}", f"--output_file={output_file}",
                        f"--bert_dir={minilm_ckpt_dir}", "--layers=-1,-6", "--max_seq_length=64", "--batch_size=8",
                        "--use_tpu=false", "--num_tpu_cores=8", "--use_one_hot_embeddings=false", "--master=",
                        "--log_every_n_examples=8", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "examples/s" in result.stderr
    _assert_matches_reference(_read_lines(output_file), reference_sentences, minilm_reference, [-1, -6])


def test_subprocess_error_is_one_line_without_traceback(tmp_path, input_file):
    result = run_script("extract_features.py", f"--input_file={input_file}", cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "extract_features.py: error: missing --output_file"


# -------------------------------------------------------------------------------------- bad input
def _run_expecting_error(flags, capsys):
    return assert_fails_cleanly(capsys, "extract_features", flags)


def _usage_error(flags, capsys):
    """A flag that does not parse: exit status 2 (usage), one error line, no traceback."""
    capsys.readouterr()
    status = run_main("extract_features", *flags)
    stderr = capsys.readouterr().err
    lines = error_lines(stderr, "extract_features")
    assert status == 1 and len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_bad_input_gives_one_line_errors(input_file, minilm_ckpt_dir, tmp_path, capsys):
    output_file = tmp_path / "out.jsonl"
    error = _run_expecting_error(_flags(tmp_path / "missing.txt", output_file, minilm_ckpt_dir), capsys)
    assert "input file not found" in error and "missing.txt" in error
    error = _run_expecting_error(_flags(input_file, output_file, minilm_ckpt_dir, vocab_file=tmp_path / "v.txt"),
                                 capsys)
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
    error = _run_expecting_error([f"--input_file={input_file}"], capsys)
    assert "--output_file" in error
    error = _run_expecting_error([f"--input_file={input_file}", f"--output_file={tmp_path / 'o'}"], capsys)
    assert "--vocab_file" in error and "--bert_dir" in error
    error = _usage_error(_flags(input_file, tmp_path / "o", minilm_ckpt_dir) + ["--no_such_flag=1"], capsys)
    assert "no_such_flag" in error
    error = _usage_error(_flags(input_file, tmp_path / "o", minilm_ckpt_dir, batch_size="many"), capsys)
    assert "batch_size" in error
    error = _run_expecting_error([f"--bert_dir={tmp_path / 'nowhere'}", f"--input_file={input_file}",
                                  f"--output_file={tmp_path / 'o'}"], capsys)
    assert "nowhere is not a folder" in error


def test_case_flag_is_checked_against_checkpoint_name(input_file, minilm_ckpt_dir, tmp_path, capsys):
    released_cased = tmp_path / "cased_L-12_H-768_A-12" / "bert_model.ckpt"
    error = _run_expecting_error(
        _flags(input_file, tmp_path / "o", minilm_ckpt_dir, init_checkpoint=released_cased), capsys)
    assert "--do_lower_case=True" in error and "cased_L-12_H-768_A-12" in error


def test_extract_features_refuses_to_overwrite_its_input(tmp_path, minilm_ckpt_dir, capsys):
    input_file = tmp_path / "input.txt"
    input_file.write_text("hello world\n", encoding="utf-8")
    assert_fails_cleanly(capsys, "extract_features", [f"--input_file={input_file}", f"--output_file={input_file}",
                                                      f"--bert_dir={minilm_ckpt_dir}"],
                         "is the --input_file")
    (tmp_path / "link.txt").symlink_to(input_file)  # another name of the same file
    assert_fails_cleanly(capsys, "extract_features", [f"--input_file={input_file}", f"--output_file={tmp_path}/link.txt",
                                                      f"--bert_dir={minilm_ckpt_dir}"],
                         "is the --input_file")
    assert input_file.read_text(encoding="utf-8") == "hello world\n"

