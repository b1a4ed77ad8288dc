"""Tests for bert_tf.tokenization.vocab_builder (build_vocab.py): the original layout, exactly vocab_size lines,
deterministic, and the file gives identical ids in FullTokenizer and the in-graph tokenizer on its corpus."""
import numpy as np
import pytest

from bert_tf.tokenization import FullTokenizer, in_graph, vocab_builder


@pytest.fixture(scope="module")
def mixed_corpus(tmp_path_factory, data_dir):
    """English sample text and Chinese reviews (with Latin words, digits and full-width punctuation)."""
    english = (data_dir / "pretraining_text" / "sample_text.txt").read_text(encoding="utf-8")
    reviews = (data_dir / "chnsenticorp" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:101]
    chinese = "".join(line.split("\t", 1)[1] + "\n" for line in reviews)
    path = tmp_path_factory.mktemp("vocab") / "corpus.txt"
    path.write_text(english + "\n" + chinese + "Ünïcödé ÀCCENTS and ligatures ﬁ, tabs\tand\u00a0spaces.\n",
                    encoding="utf-8")
    return path


CONFIG = vocab_builder.VocabularyConfig(vocab_size=3000, min_count=2, max_unique_chars=2000, num_unused=20)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_vocabulary_loads_in_both_tokenizers_with_identical_ids(tmp_path, mixed_corpus, do_lower_case):
    """Acceptance 3: FullTokenizer and InGraphBertTokenizer give the same ids on every corpus line."""
    output = tmp_path / "vocab.txt"
    config = vocab_builder.VocabularyConfig(**{**CONFIG.__dict__, "do_lower_case": do_lower_case})
    summary = vocab_builder.build_vocabulary(str(mixed_corpus), str(output), config)
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert len(tokens) == len(set(tokens)) == summary.vocab_size == 3000
    assert tokens[:22] == ["[PAD]"] + [f"[unused{index}]" for index in range(20)] + ["[UNK]"]
    assert tokens[22:25] == ["[CLS]", "[SEP]", "[MASK]"]
    learned = [token for token in tokens if not token.startswith("[")]
    assert len(learned) == summary.num_learned > 1000
    assert any(token.startswith("##") and len(token) > 3 for token in learned)
    assert "中" in tokens and "好" in tokens  # CJK characters are single tokens
    assert not any(len(token) > 1 and "\u4e00" <= token[-1] <= "\u9fff" and not token.startswith("##")
                   for token in learned), "a CJK character joined to another in a token"
    assert any(token != token.lower() for token in learned) != do_lower_case  # upper case only when cased

    full = FullTokenizer(str(output), do_lower_case=do_lower_case)
    graph = in_graph.InGraphBertTokenizer(str(output), do_lower_case=do_lower_case)
    lines = [line for line in mixed_corpus.read_text(encoding="utf-8").split("\n")]
    expected = [full.convert_tokens_to_ids(full.tokenize(line)) for line in lines]
    got = graph.tokenize(np.array([line.encode("utf-8") for line in lines], dtype=object)).to_list()
    assert got == expected
    unknown = full.vocab["[UNK]"]
    assert sum(token_id == unknown for ids in expected for token_id in ids) < 0.01 * sum(map(len, expected))


def test_deterministic_and_independent_of_word_order(mixed_corpus):
    text = mixed_corpus.read_text(encoding="utf-8")
    counts, num_lines = vocab_builder.count_words([text])
    assert num_lines == text.count("\n") + 1
    first = vocab_builder.learn_vocabulary(counts, CONFIG)
    reversed_counts = dict(reversed(list(counts.items())))
    assert vocab_builder.learn_vocabulary(reversed_counts, CONFIG) == first


def test_too_small_a_vocabulary_is_refused(mixed_corpus):
    counts, _ = vocab_builder.count_words([mixed_corpus.read_text(encoding="utf-8")])
    with pytest.raises(vocab_builder.VocabularyError, match="--vocab_size=200 is too small"):
        vocab_builder.learn_vocabulary(counts, vocab_builder.VocabularyConfig(vocab_size=200, num_unused=20))
