"""A "fine-tuned" tiny classifier and its SavedModels, shared by tests/serving/test_classifier.py and
tests/test_export_savedmodel.py (session fixtures, registered in tests/conftest.py: made once per run).

The fine-tuned checkpoint is the tiny pretrained model plus a random classifier head, written with
save_checkpoint; `classifier_exports` exports it with export_savedmodel.py (MRPC through the command line
in a new process, SST-2 and STS-B in this process).
"""
import pathlib
import re

import numpy as np
import pytest

from tests.harness.scripts import run_main, run_script

MAX_SEQ_LENGTH = 40  # short enough that MRPC pairs get truncated


def finetuned_model(tiny_ckpt_dir, num_labels, seed):
    """The tiny encoder plus a random, non-trivial classifier head."""
    import bert_tf
    from bert_tf.checkpoint import load_checkpoint

    config = bert_tf.BertConfig.from_json_file(tiny_ckpt_dir / "bert_config.json")
    model = bert_tf.BertClassifier(config, num_labels=num_labels)
    load_checkpoint(model, tiny_ckpt_dir, expected_missing=["output_weights", "output_bias"])
    randomizer = np.random.default_rng(seed)
    head = model.classifier
    head.output_weights.assign(randomizer.normal(0.0, 2.0, head.output_weights.shape).astype(np.float32))
    head.output_bias.assign(randomizer.normal(0.0, 2.0, head.output_bias.shape).astype(np.float32))
    return model


def export_flags(task, tiny_ckpt_dir, checkpoint, export_dir):
    """export_savedmodel.py's flags for `task` on the tiny model (the original flags, not --bert_dir)."""
    return [f"--task_name={task}", f"--bert_config_file={tiny_ckpt_dir / 'bert_config.json'}",
            f"--vocab_file={tiny_ckpt_dir / 'vocab.txt'}", "--do_lower_case=true",
            f"--init_checkpoint={checkpoint}", f"--max_seq_length={MAX_SEQ_LENGTH}",
            f"--export_dir={export_dir}"]


def cased_variant(vocab_file, folder):
    """The vocabulary with its `[unusedN]` entries renamed `XunusedN`: cased to the scripts' casing check
    (without lower casing, an uncased vocabulary is refused), the same ids for every text without those words."""
    entries = pathlib.Path(vocab_file).read_text(encoding="utf-8").splitlines()
    path = pathlib.Path(folder) / "cased_vocab.txt"
    path.write_text("".join(f"X{entry[1:-1]}\n" if entry.startswith("[unused") else f"{entry}\n"
                            for entry in entries), encoding="utf-8")
    return path


def version_folders(export_dir):
    """The version folders (`<unix time>`) under an export folder, oldest first."""
    return sorted(path for path in pathlib.Path(export_dir).iterdir() if re.fullmatch(r"\d+", path.name))


@pytest.fixture(scope="session")
def classifier_models(tiny_ckpt_dir, tmp_path_factory):
    """{num_labels: (Keras model, fine-tuned checkpoint folder)} for 2 labels and regression."""
    from bert_tf.checkpoint import save_checkpoint

    result = {}
    for num_labels, seed in ((2, 1), (1, 2)):
        model = finetuned_model(tiny_ckpt_dir, num_labels, seed)
        folder = tmp_path_factory.mktemp(f"finetuned_{num_labels}")
        save_checkpoint(model, folder / "model.ckpt-7", global_step=7)
        result[num_labels] = (model, folder)
    return result


@pytest.fixture(scope="session")
def classifier_exports(classifier_models, tiny_ckpt_dir, tmp_path_factory):
    """Export paths. MRPC through the command line in a new process (and its stderr, "mrpc_cli_stderr");
    SST-2 and STS-B in-process."""
    root = tmp_path_factory.mktemp("exports")
    result = run_script("export_savedmodel.py", *export_flags("MRPC", tiny_ckpt_dir, classifier_models[2][1],
                                                              root / "mrpc"), cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    paths = {"mrpc": result.stdout.strip().splitlines()[-1], "mrpc_cli_stderr": result.stderr}

    # SST-2 with --task (the short form of --task_name); STS-B without lower casing.
    flags = export_flags("SST-2", tiny_ckpt_dir, classifier_models[2][1], root / "sst2")
    flags[0] = "--task=SST-2"
    assert run_main("export_savedmodel", *flags) == 0
    flags = export_flags("STS-B", tiny_ckpt_dir, classifier_models[1][1], root / "stsb")
    flags[2], flags[3] = f"--vocab_file={cased_variant(tiny_ckpt_dir / 'vocab.txt', root)}", "--do_lower_case=false"
    assert run_main("export_savedmodel", *flags) == 0
    for name in ("sst2", "stsb"):
        (paths[name],) = [str(path) for path in version_folders(root / name)]
    return paths
