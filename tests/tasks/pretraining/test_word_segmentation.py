"""Tests for bert_tf.tasks.pretraining.word_segmentation and Chinese whole-word masking: every jieba word
is masked whole or not at all, with the configured masked fraction and one 80/10/10 draw per word; a
reference file (Hugging Face's run_chinese_ref.py format) gives the same records as jieba; bad reference
files are named."""
import array
import json
import random
import sys

import numpy as np
import pytest

from bert_tf.tasks.pretraining import corpus as pretraining_corpus
from bert_tf.tasks.pretraining import create as pretraining
from bert_tf.tasks.pretraining import instances as pretraining_instances
from bert_tf.tasks.pretraining import word_segmentation
from bert_tf.tasks.pretraining.create import PretrainingDataConfig
from bert_tf.tasks.pretraining.records import ID_TYPECODE
from bert_tf.tokenization import is_chinese_char
from tests.harness.scripts import assert_fails_cleanly
from tests.tasks.pretraining.pretraining_data import raw_records, read_records, run

jieba = pytest.importorskip("jieba")

MAX_SEQ_LENGTH = 512  # one review per document and reviews of <= 200 tokens: A and B are never truncated
MAX_PREDICTIONS = 80


@pytest.fixture(scope="module")
def chinese_tokenizer(reference_tokenizers):
    return reference_tokenizers["chinese"]


@pytest.fixture(scope="module")
def reviews(data_dir, chinese_tokenizer):
    """ChnSentiCorp dev reviews of 20 to 200 tokens with distinct token sequences."""
    lines = (data_dir / "chnsenticorp" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    seen, kept = set(), []
    for line in lines:
        text = line.split("\t", 1)[1].strip()
        tokens = tuple(chinese_tokenizer.tokenize(text))
        if 20 <= len(tokens) <= 200 and tokens not in seen:
            seen.add(tokens)
            kept.append(text)
    return kept[:400]


@pytest.fixture(scope="module")
def review_corpus(tmp_path_factory, reviews):
    """One review per document."""
    path = tmp_path_factory.mktemp("reviews") / "reviews.txt"
    path.write_text("".join(review + "\n\n" for review in reviews), encoding="utf-8")
    return path


def jieba_word_spans(line, tokenizer, segmenter):
    """[start, end) token ranges of the jieba words of two or more CJK characters, found independently of
    the library: a CJK character at offset o is token len(tokenize(line[:o])) (the tokenizer splits every
    CJK character off)."""
    spans, offset = [], 0
    for word in segmenter.cut(line, HMM=False):
        if len(word) > 1 and all(is_chinese_char(ord(character)) for character in word):
            start = len(tokenizer.tokenize(line[:offset]))
            spans.append((start, start + len(word)))
        offset += len(word)
    return spans


def reference_positions(line, tokenizer, segmenter):
    """The run_chinese_ref.py reference of a line: continuation positions counted with [CLS] as 0."""
    return [position + 1 for start, end in jieba_word_spans(line, tokenizer, segmenter)
            for position in range(start + 1, end)]


def test_split_line_equals_the_tokenizer(chinese_tokenizer, uncased_tokenizer):
    lines = ["我爱北京天安门，iPhone 12很好用。", "T恤3月 ﬁne café  中\u0301文", "豈更車 bert_tf 的 ##嗎", "\U00020000a𠀀b",
             "no chinese here", "只有中文"]
    for tokenizer in (chinese_tokenizer, uncased_tokenizer):
        cache = pretraining_corpus.WordIdCache(tokenizer)
        for line in lines:
            ids, token_of_character = word_segmentation.split_line(line, cache)
            assert ids.tolist() == tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line)), line
            cjk_offsets = [offset for offset, character in enumerate(line) if is_chinese_char(ord(character))]
            assert sorted(token_of_character) == cjk_offsets
            for offset, token in token_of_character.items():
                assert token == len(tokenizer.tokenize(line[:offset]))


@pytest.mark.parametrize("num_workers", [1, 2])
def test_jieba_words_are_masked_whole(tmp_path, chinese_tokenizer, reviews, review_corpus, num_workers):
    """Acceptance: in every instance each jieba word is fully masked-or-replaced or untouched; the masked
    fraction and the 80/10/10 split per word are the configured ones."""
    output = tmp_path / "out.tfrecord"
    summary = run(review_corpus, output, chinese_tokenizer, max_seq_length=MAX_SEQ_LENGTH,
                  max_predictions_per_seq=MAX_PREDICTIONS, masked_lm_prob=0.15, dupe_factor=3,
                  do_whole_word_mask=True, word_segmentation="jieba", num_workers=num_workers)
    features = read_records(output, MAX_SEQ_LENGTH, MAX_PREDICTIONS)
    segmenter = jieba.Tokenizer()
    vocab = chinese_tokenizer.vocab
    spans_of_line = {}
    for review in reviews:
        ids = tuple(chinese_tokenizer.convert_tokens_to_ids(chinese_tokenizer.tokenize(review)))
        spans_of_line[ids] = jieba_word_spans(review, chinese_tokenizer, segmenter)
    mask_id, cls_id, sep_id = vocab["[MASK]"], vocab["[CLS]"], vocab["[SEP]"]
    kinds = {"mask": 0, "kept": 0, "random": 0}
    split_words = masked_words = words_seen = 0
    predictions = expected_predictions = 0
    for row in range(len(features["input_ids"])):
        length = int(features["input_mask"][row].sum())
        num_masked = int(features["masked_lm_weights"][row].sum())
        positions = features["masked_lm_positions"][row][:num_masked]
        original = features["input_ids"][row][:length].copy()
        original[positions] = features["masked_lm_ids"][row][:num_masked]
        masked = set(positions.tolist())
        separator = original.tolist().index(sep_id, 1)
        assert original[0] == cls_id and original[length - 1] == sep_id
        predictions += num_masked
        expected_predictions += min(MAX_PREDICTIONS, max(1, round(length * 0.15)))
        for first, segment in ((1, original[1:separator]), (separator + 1, original[separator + 1:length - 1])):
            spans = spans_of_line[tuple(segment.tolist())]  # a whole review: no truncation at this length
            for start, end in spans:
                covered = [first + position in masked for position in range(start, end)]
                words_seen += 1
                if any(covered) and not all(covered):
                    split_words += 1
                elif all(covered):
                    masked_words += 1
                    inputs = features["input_ids"][row][first + start:first + end]
                    labels = original[first + start:first + end]
                    if (inputs == mask_id).all():
                        kinds["mask"] += 1
                    elif (inputs == labels).all():
                        kinds["kept"] += 1
                    else:
                        assert not (inputs == mask_id).any(), "a word is [MASK]ed in part"
                        kinds["random"] += 1
    assert summary.num_instances == len(features["input_ids"]) > 1000
    assert split_words == 0
    assert words_seen > 20000 and masked_words > 2000
    assert abs(kinds["mask"] / masked_words - 0.8) < 0.03
    assert abs(kinds["kept"] / masked_words - 0.1) < 0.03
    assert abs(kinds["random"] / masked_words - 0.1) < 0.03
    # round(len * 0.15) predictions per instance, less only where no remaining word fits
    assert 0.98 * expected_predictions <= predictions <= expected_predictions
    total_tokens = features["input_mask"].sum()
    assert abs(predictions / total_tokens - 0.15) < 0.005
    assert summary.num_masked_positions == predictions


def test_a_reference_file_gives_the_records_of_jieba(tmp_path, chinese_tokenizer, data_dir):
    """--word_segmentation=ref with the run_chinese_ref.py reference of the jieba words writes the jieba
    records; multi-line documents with truncation (max_seq_length 64), blank lines skipped by the ref."""
    segmenter = jieba.Tokenizer()
    lines = (data_dir / "chnsenticorp" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:121]
    sentences = [[part + "。" for part in line.split("\t", 1)[1].split("。") if part.strip()] for line in lines]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join("\n".join(document) + "\n\n" for document in sentences), encoding="utf-8")
    reference = tmp_path / "ref.txt"
    reference.write_text("".join(json.dumps(reference_positions(sentence.strip(), chinese_tokenizer, segmenter))
                                 + "\n" for document in sentences for sentence in document), encoding="utf-8")
    settings = dict(max_seq_length=64, max_predictions_per_seq=10, dupe_factor=2, do_whole_word_mask=True,
                    num_workers=1)
    from_jieba = run(corpus, tmp_path / "jieba.tfrecord", chinese_tokenizer, word_segmentation="jieba", **settings)
    from_ref = pretraining.create_pretraining_data(
        str(corpus), str(tmp_path / "ref.tfrecord"), chinese_tokenizer,
        PretrainingDataConfig(word_segmentation="ref", **settings), ref_file=str(reference))
    assert from_ref.num_instances == from_jieba.num_instances > 200
    assert raw_records(tmp_path / "ref.tfrecord") == raw_records(tmp_path / "jieba.tfrecord")
    run(corpus, tmp_path / "plain.tfrecord", chinese_tokenizer, **settings)  # the '##' rule only
    assert raw_records(tmp_path / "plain.tfrecord") != raw_records(tmp_path / "jieba.tfrecord")


def test_words_never_cross_the_middle_separator_nor_start_mid_word(chinese_tokenizer):
    vocab = chinese_tokenizer.vocab
    mark = word_segmentation.continuation_mark(vocab)
    vocabulary = pretraining_instances.VocabularyIds.from_vocab(vocab, continuation_mark=mark)
    builder = pretraining_instances.InstanceBuilder([], vocabulary, PretrainingDataConfig(
        do_whole_word_mask=True, word_segmentation="jieba"), random.Random(0))
    word = chinese_tokenizer.convert_tokens_to_ids(list("中华人民"))
    piece = chinese_tokenizer.convert_tokens_to_ids(["go", "##ing", "##ll"])
    marked = [word[0], word[1] + mark, word[2] + mark, word[3] + mark]
    # [CLS] <rest of a word: truncated at the front> <word> [SEP] <continuation first> <pieces> [SEP]
    tokens = ([vocab["[CLS]"], marked[2], marked[3]] + marked + [vocab["[SEP]"], marked[1], marked[2]] + piece
              + [vocab["[SEP]"]])
    ids = np.array(tokens, dtype=np.int32)
    assert builder._candidate_words(ids, length_a=6) == [(1, 3), (3, 7), (8, 10), (10, 13)]
    instance_ids = array.array(ID_TYPECODE, tokens)
    builder._add_word_masked_instance(instance_ids, 6, False)
    assert max(builder.batch.token_ids) < mark and max(builder.batch.masked_lm_ids) < mark


def test_bad_reference_files_are_named(tmp_path, chinese_tokenizer, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("我爱北京天安门\nok 中文\n\n第二个文件\n", encoding="utf-8")
    vocab_file = chinese_tokenizer.vocab_file
    output = tmp_path / "out" / "records.tfrecord"
    output.parent.mkdir()
    def refused(reference_lines, *expected, flags=()):
        reference = tmp_path / "ref.txt"
        reference.write_text("".join(line + "\n" for line in reference_lines), encoding="utf-8")
        assert_fails_cleanly(capsys, "create_pretraining_data", [
            f"--input_file={corpus}", f"--output_file={output}", f"--vocab_file={vocab_file}", "--do_whole_word_mask",
            "--word_segmentation=ref", f"--ref_file={reference}", "--max_seq_length=32",
            "--max_predictions_per_seq=5", "--num_workers=1", "--noprogress", *flags], *expected,
            output_dir=output.parent)

    refused(["[4]", "[]"], "ref.txt has 2 line(s)", "has 3 non-blank line(s)")
    refused(["[4]", "[]", "[2]", "[]"], "ref.txt has 4 line(s)")
    refused(["[4, 6]", "[2]", "[2]"], "ref.txt:2 (for", "corpus.txt:2)", "position 2")  # "ok" is not Chinese
    refused(["[1]", "[]", "[]"], "ref.txt:1", "position 1")  # the first token continues nothing
    refused(["[8]", "[]", "[]"], "ref.txt:1", "position 8")  # 7 tokens
    refused(["[4]", "x", "[]"], "ref.txt:2", "expected a JSON list")
    refused(["[4]", "[true]", "[]"], "ref.txt:2", "expected a JSON list")
    refused(["[]", "[]", "[]"], "needs --ref_file", flags=["--ref_file="])
    refused(["[]", "[]", "[]"], "names 2 file(s) for 1 input file(s)", flags=[f"--ref_file={corpus},{corpus}"])
    refused(["[]", "[]", "[]"], "add --do_whole_word_mask", flags=["--nodo_whole_word_mask"])
    refused(["[]", "[]", "[]"], "only read with --word_segmentation=ref", flags=["--word_segmentation=jieba"])
    refused(["[]", "[]", "[]"], "no such file", flags=[f"--ref_file={tmp_path / 'missing.txt'}"])
    refused(["[2, 3, 4, 5, 6, 7]", "[]", "[5]"], "is the input --ref_file",
            flags=[f"--output_file={tmp_path / 'ref.txt'}"])


def test_missing_jieba_names_the_extra(tmp_path, chinese_tokenizer, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba -> ImportError
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("我爱北京天安门\n", encoding="utf-8")
    assert_fails_cleanly(capsys, "create_pretraining_data", [
        f"--input_file={corpus}", f"--output_file={tmp_path / 'out.tfrecord'}",
        f"--vocab_file={chinese_tokenizer.vocab_file}", "--do_whole_word_mask", "--word_segmentation=jieba",
        "--num_workers=1", "--noprogress"], "pip install 'bert_tf[chinese]'")
    assert not (tmp_path / "out.tfrecord").exists()
