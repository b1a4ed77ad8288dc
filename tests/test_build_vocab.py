"""build_vocab.py: the command line, one-line errors, nothing written on a refusal."""
from tests.harness.scripts import assert_fails_cleanly, run_main


def test_command_line(tmp_path, data_dir, capsys):
    corpus = data_dir / "pretraining_text" / "sample_text.txt"
    output = tmp_path / "out" / "vocab.txt"
    output.parent.mkdir()
    assert run_main("build_vocab", f"--input_file={corpus}", f"--output_file={output}", "--vocab_size=700",
                    "--min_count=2") == 0
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert len(tokens) == 700 and tokens[0] == "[PAD]" and tokens[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    first = output.read_bytes()
    assert run_main("build_vocab", f"--input_file={corpus}", f"--output_file={output}", "--vocab_size=700",
                    "--min_count=2") == 0
    assert output.read_bytes() == first

    base = {"--input_file": str(corpus), "--output_file": str(tmp_path / "out" / "other.txt"), "--vocab_size": "700"}
    for changes, message in [
        ({"--vocab_size": ""}, "missing --vocab_size"),
        ({"--vocab_size": "50"}, "--vocab_size=50: must be an integer >= 105"),
        ({"--vocab_size": "120"}, "--vocab_size=120 is too small"),
        ({"--input_file": str(tmp_path / "missing.txt")}, "no file matches"),
        ({"--output_file": str(corpus)}, "refusing to overwrite it"),
        ({"--num_unused": "-1"}, "--num_unused=-1"),
    ]:
        flags = {**base, **changes}
        assert_fails_cleanly(capsys, "build_vocab", [f"{key}={value}" for key, value in flags.items() if value],
                             message, output_dir=tmp_path / "out")
