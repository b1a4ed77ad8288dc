"""Shared pytest fixtures: where the read-only assets in ``../shared`` live, and what every test file reads
from them (the tokenizers of the shared vocabularies, the reference sentences).

The assets are found as ``../shared`` next to the project root, or wherever ``BERT_TF_SHARED`` points.
A test that needs them skips when they are absent, except under ``CI=true`` where it fails instead.
"""
import json
import os
import pathlib

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent

# The vocabularies of the tokenizer references (refs/tokenizer_<stem>_public.jsonl): stem, folder in
# data/vocab, do_lower_case.
REFERENCE_VOCABULARIES = [
    ("uncased", "bert-base-uncased", True),
    ("cased", "bert-base-cased", False),
    ("chinese", "bert-base-chinese", True),
]


def shared_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("BERT_TF_SHARED", PROJECT_ROOT.parent / "shared")).resolve()


def require_shared(*relative_parts: str) -> pathlib.Path:
    """Returns ``shared/<relative_parts>``; skips the test if absent (fails under CI=true)."""
    path = shared_dir().joinpath(*relative_parts)
    if not path.exists():
        message = f"shared asset not found: {path} (set BERT_TF_SHARED)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def read_jsonl(path):
    """The JSON value of every non-blank line of `path`."""
    with open(path, encoding="utf-8") as reader:
        return [json.loads(line) for line in reader if line.strip()]


def tokenizer_of_vocabulary(path, tokens, do_lower_case=True):
    """Writes `tokens` (one a line) to `path` and returns the `FullTokenizer` of that vocabulary."""
    from bert_tf.tokenization import FullTokenizer

    path = pathlib.Path(path)
    path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
    return FullTokenizer(str(path), do_lower_case=do_lower_case)


# ------------------------------------------------------------------------------------------ folders
@pytest.fixture(scope="session")
def shared():
    return require_shared()


@pytest.fixture(scope="session")
def tiny_ckpt_dir():
    return require_shared("checkpoints", "tiny_uncased_L-2_H-64_A-4")


@pytest.fixture(scope="session")
def tiny_no_dropout_dir(tmp_path_factory, tiny_ckpt_dir):
    """The tiny checkpoint with a bert_config.json of dropout 0.0 (deterministic training steps)."""
    import json

    folder = tmp_path_factory.mktemp("tiny_no_dropout")
    for path in tiny_ckpt_dir.iterdir():
        if path.name != "bert_config.json":
            os.symlink(path, folder / path.name)
    config = json.loads((tiny_ckpt_dir / "bert_config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "bert_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def minilm_ckpt_dir():
    return require_shared("checkpoints", "minilm_l6_h384_uncased")


@pytest.fixture(scope="session")
def refs_dir():
    return require_shared("refs")


@pytest.fixture(scope="session")
def data_dir():
    return require_shared("data")


# --------------------------------------------------------------------------------------- tokenizers
def _full_tokenizer(vocab_file, do_lower_case=True):
    from bert_tf.tokenization import FullTokenizer

    return FullTokenizer(str(vocab_file), do_lower_case=do_lower_case)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_ckpt_dir):
    """The tiny checkpoint's vocabulary (bert-base-uncased's), lower cased."""
    return _full_tokenizer(tiny_ckpt_dir / "vocab.txt")


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_ckpt_dir):
    """The MiniLM checkpoint's vocabulary, lower cased."""
    return _full_tokenizer(minilm_ckpt_dir / "vocab.txt")


@pytest.fixture(scope="session")
def squad_tokenizer(refs_dir):
    """The vocabulary of the tiny fine-tuned SQuAD model of the references (refs/squad/tiny_squad), lower cased."""
    return _full_tokenizer(refs_dir / "squad" / "tiny_squad" / "vocab.txt")


@pytest.fixture(scope="session")
def reference_tokenizers(data_dir):
    """stem -> the `FullTokenizer` of each tokenizer reference (`REFERENCE_VOCABULARIES`)."""
    return {stem: _full_tokenizer(data_dir / "vocab" / folder / "vocab.txt", lower)
            for stem, folder, lower in REFERENCE_VOCABULARIES}


@pytest.fixture(scope="session")
def uncased_tokenizer(reference_tokenizers):
    """data/vocab/bert-base-uncased, lower cased."""
    return reference_tokenizers["uncased"]


# ------------------------------------------------------------------------------------- references
@pytest.fixture(scope="session")
def tokenizer_references(refs_dir):
    """stem -> the rows (text, google_tokens, google_ids) of refs/tokenizer_<stem>_public.jsonl."""
    return {stem: read_jsonl(refs_dir / f"tokenizer_{stem}_public.jsonl") for stem, _, _ in REFERENCE_VOCABULARIES}


@pytest.fixture(scope="session")
def reference_sentences(refs_dir):
    """refs/sentences_public.json: the 12 reference sentences (pairs), their packed tokens, max_seq_length."""
    with open(refs_dir / "sentences_public.json", encoding="utf-8") as reader:
        return json.load(reader)


@pytest.fixture(scope="session")
def reference_input_lines(reference_sentences):
    """Each reference sentence as a line of extract_features.py's input (`text_a ||| text_b`)."""
    return [example["text_a"] + (f" ||| {example['text_b']}" if example["text_b"] else "")
            for example in reference_sentences["examples"]]


@pytest.fixture(scope="session")
def minilm_reference(refs_dir):
    """refs/minilm_l6_h384_uncased_public.npz (the reference sentences through MiniLM), as a dict of arrays."""
    import numpy as np

    with np.load(refs_dir / "minilm_l6_h384_uncased_public.npz") as data:
        return {key: data[key] for key in data.files}


# The fine-tuned classifier and its exports (tests/serving/test_classifier.py, tests/test_export_savedmodel.py).
# Imported last: the harness imports this module's PROJECT_ROOT.
from tests.harness.classifier_exports import classifier_exports, classifier_models  # noqa: E402,F401
