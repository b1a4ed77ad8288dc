"""encode.py: text, JSON-lines and TSV inputs, .npy and .jsonl outputs equal to `bert_tf.encode`; one-line errors
that write nothing; the sentence-transformers all-MiniLM-L6-v2 references from the command line. (The library:
tests/tasks/embedding/.)"""
import json
import pathlib

import numpy as np
import pytest

import bert_tf
from tests.harness.scripts import assert_fails_cleanly, error_lines, run_main, run_script, snapshot

REFERENCES = pathlib.Path(__file__).parent / "tasks" / "embedding" / "data" / "minilm_stsb_embeddings.npz"
TEXTS = ["The cat sat on the mat.", "", "A longer sentence, with punctuation; and a few more words!", "hello"]


@pytest.fixture(scope="module")
def expected(tiny_ckpt_dir):
    return bert_tf.encode(TEXTS, tiny_ckpt_dir, pooling="max", layers="-2,-1", normalize=True, max_seq_length=16)


def encode_flags(tiny_ckpt_dir, input_file, output_file, *extra):
    return [f"--input_file={input_file}", f"--output_file={output_file}", f"--bert_dir={tiny_ckpt_dir}",
            "--pooling=max", "--layers=-2,-1", "--normalize", "--max_seq_length=16", "--batch_size=2", *extra]


def test_text_lines_to_npy(tiny_ckpt_dir, expected, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("".join(text + "\n" for text in TEXTS), encoding="utf-8")
    output = tmp_path / "out" / "vectors.npy"
    assert run_main("encode", *encode_flags(tiny_ckpt_dir, source, output)) == 0
    assert "4 vectors of 64 dimensions" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(output), expected, atol=1e-6)


def test_json_lines_and_tsv_to_jsonl(tiny_ckpt_dir, expected, tmp_path):
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"sentence": text, "id": index}) + "\n" for index, text in enumerate(TEXTS)),
                      encoding="utf-8")
    output = tmp_path / "vectors.jsonl"
    assert run_main("encode", *encode_flags(tiny_ckpt_dir, source, output, "--text_field=sentence")) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["index"] for row in rows] == [0, 1, 2, 3]
    np.testing.assert_allclose(np.array([row["embedding"] for row in rows]), expected, atol=1e-6)
    table = tmp_path / "texts.tsv"
    table.write_text("id\ttext\n" + "".join(f"{index}\t{text}\n" for index, text in enumerate(TEXTS)),
                     encoding="utf-8")
    assert run_main("encode", *encode_flags(tiny_ckpt_dir, table, tmp_path / "tsv.npy", "--column=text")) == 0
    np.testing.assert_allclose(np.load(tmp_path / "tsv.npy"), expected, atol=1e-6)


def test_bad_input_is_one_line_and_writes_nothing(tiny_ckpt_dir, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("one\ntwo\n", encoding="utf-8")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"fine\ncaf\xe9\n")
    table = tmp_path / "rows.tsv"
    table.write_text("id\ttext\n1\tone\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    output = tmp_path / "out" / "vectors.npy"
    out_dir = tmp_path / "out"
    cases = [
        (["--layers=-3"], source, output, "layer -3 does not exist; the model has 2 layers"),
        (["--layers=-1,last"], source, output, "'last' is not an integer"),
        (["--pooling=avg"], source, output, "flag --pooling=avg: value should be one of"),
        ([], bad, output, "latin1.txt:2: not UTF-8 text (byte 0xe9)"),
        (["--column=sentence"], table, output, "rows.tsv:1: no column 'sentence' in the header"),
        (["--column=2"], table, output, "rows.tsv:1: 2 column(s); --column reads column 2"),
        ([], empty, output, "holds no text"),
        ([], source, out_dir / "vectors.csv", "must end in .npy"),
        (["--max_seq_length=2"], source, output, "--max_seq_length must be an integer >= 3"),
    ]
    for extra, input_file, output_file, message in cases:
        assert_fails_cleanly(capsys, "encode", encode_flags(tiny_ckpt_dir, input_file, output_file, *extra), message,
                             output_dir=out_dir)
    lines = tmp_path / "texts.jsonl"
    lines.write_text('{"text": "one"}\n', encoding="utf-8")
    before = snapshot(tmp_path)
    assert_fails_cleanly(capsys, "encode", encode_flags(tiny_ckpt_dir, lines, lines), "is the --input_file")
    assert snapshot(tmp_path) == before


def test_a_program_run_is_quiet_on_errors(tiny_ckpt_dir, tmp_path):
    completed = run_script("encode.py", f"--input_file={tmp_path / 'missing.txt'}",
                           f"--output_file={tmp_path / 'v.npy'}", f"--bert_dir={tiny_ckpt_dir}", quiet=False)
    assert completed.returncode == 1
    assert error_lines(completed.stderr, "encode") == [f"encode.py: error: {tmp_path / 'missing.txt'}: no such file"]
    assert "Traceback" not in completed.stderr


def test_minilm_from_the_command_line_equals_sentence_transformers(minilm_ckpt_dir, tmp_path):
    references = np.load(REFERENCES)
    source = tmp_path / "stsb.txt"
    source.write_text("".join(f"{text}\n" for text in references["texts"]), encoding="utf-8")
    output = tmp_path / "minilm.npy"
    assert run_main("encode", f"--input_file={source}", f"--output_file={output}", f"--bert_dir={minilm_ckpt_dir}",
                    "--pooling=mean", "--normalize", "--max_seq_length=256") == 0
    vectors = np.load(output)
    assert np.abs(vectors - references["gelu_new"]).max() <= 1e-5
    published = references["published"]
    assert ((vectors * published).sum(axis=1) / np.linalg.norm(published, axis=1)).min() >= 0.99999
