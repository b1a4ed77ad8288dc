"""create_pretraining_data.py: its flags, the records it writes, one-line errors. (The algorithm:
tests/tasks/pretraining/.)"""
from bert_tf.tasks.pretraining import records as pretraining_records
from tests.harness.scripts import assert_fails_cleanly, run_main


def test_command_line(tmp_path, data_dir, capsys):
    uncased_vocab_file = str(data_dir / "vocab" / "bert-base-uncased" / "vocab.txt")
    output = tmp_path / "out.tfrecord"
    status = run_main("create_pretraining_data", f"--input_file={data_dir / 'pretraining_text' / 'sample_text.txt'}",
                      f"--output_file={output}", f"--vocab_file={uncased_vocab_file}", "--dupe_factor=2",
                      "--max_seq_length=64", "--max_predictions_per_seq=10", "--num_workers=1", "--noprogress")
    assert status == 0
    pretraining_records.check_pretraining_tfrecord(str(output), 64, 10)

    for arguments, message in [
        ([f"--input_file={tmp_path}/missing.txt"], "no file matches"),
        (["--max_predictions_per_seq=500"], "--max_predictions_per_seq=500"),
        ([f"--vocab_file={tmp_path}/none.txt"], "--vocab_file: no such file"),
        (["--output_file="], "missing --output_file"),
    ]:
        defaults = {"--input_file": str(data_dir / "pretraining_text" / "sample_text.txt"),
                    "--output_file": str(output), "--vocab_file": uncased_vocab_file}
        for argument in arguments:
            defaults[argument.split("=")[0]] = argument.split("=", 1)[1]
        assert_fails_cleanly(capsys, "create_pretraining_data", [f"{key}={value}" for key, value in defaults.items()],
                             message)


def test_an_output_file_that_is_an_input_is_refused_however_spelled(tmp_path, data_dir, capsys):
    corpus = tmp_path / "corpus" / "text.txt"
    corpus.parent.mkdir()
    corpus.write_bytes((data_dir / "pretraining_text" / "sample_text.txt").read_bytes())
    (tmp_path / "link.txt").symlink_to(corpus)
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes((data_dir / "vocab" / "bert-base-uncased" / "vocab.txt").read_bytes())
    before = {path: path.read_bytes() for path in (corpus, vocab)}
    for output, inputs in [(corpus, corpus), (f"{tmp_path}/corpus/../corpus/./text.txt", corpus),
                           (tmp_path / "link.txt", corpus), (corpus, f"{tmp_path}/corpus/*.txt"),
                           (f"{tmp_path / 'other.tfrecord'},{vocab}", corpus)]:
        assert_fails_cleanly(capsys, "create_pretraining_data", [
            f"--input_file={inputs}", f"--output_file={output}", f"--vocab_file={vocab}", "--max_seq_length=64",
            "--max_predictions_per_seq=10", "--num_workers=1", "--noprogress"], "refusing to overwrite it")
    assert {path: path.read_bytes() for path in before} == before
    assert not (tmp_path / "other.tfrecord").exists()
