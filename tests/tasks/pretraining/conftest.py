"""Fixtures of the pretraining-data tests: a generated corpus of the uncased vocabulary's words."""
import pytest

from tests.tasks.pretraining.pretraining_data import write_generated_corpus


@pytest.fixture(scope="session")
def generated_corpus(tmp_path_factory, uncased_tokenizer):
    """60 documents of 40 sentences (tests/tasks/pretraining/pretraining_data.py's `write_generated_corpus`)."""
    folder = tmp_path_factory.mktemp("generated")
    return write_generated_corpus(folder / "corpus.txt", uncased_tokenizer.vocab, 60, 40)
