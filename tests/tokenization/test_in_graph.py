"""Tests for bert_tf.tokenization.in_graph: the in-graph tokenizer equals FullTokenizer + packing exactly."""
import random
import unicodedata

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf.tokenization import in_graph as text_graph  # noqa: E402
from bert_tf.tokenization import packing  # noqa: E402
from tests.conftest import REFERENCE_VOCABULARIES  # noqa: E402

STEMS = [case[0] for case in REFERENCE_VOCABULARIES]


@pytest.fixture(scope="module")
def vocab_files(data_dir):
    return {stem: data_dir / "vocab" / folder / "vocab.txt" for stem, folder, _ in REFERENCE_VOCABULARIES}


@pytest.fixture(scope="module")
def graph_tokenizers(vocab_files):
    return {stem: text_graph.InGraphBertTokenizer(vocab_files[stem], do_lower_case=lower, max_seq_length=32)
            for stem, _, lower in REFERENCE_VOCABULARIES}


@pytest.mark.parametrize("stem", STEMS)
def test_wordpiece_ids_equal_google_reference(stem, graph_tokenizers, tokenizer_references):
    rows = tokenizer_references[stem]
    ids = graph_tokenizers[stem].tokenize(tf.constant([row["text"] for row in rows])).to_list()
    mismatches = [(line, ascii(row["text"])[:60]) for line, (row, row_ids) in enumerate(zip(rows, ids), 1)
                  if row_ids != row["google_ids"]]
    assert not mismatches, mismatches


@pytest.mark.parametrize("stem", STEMS)
def test_basic_tokens_equal_python(stem, graph_tokenizers, reference_tokenizers, tokenizer_references):
    texts = [row["text"] for row in tokenizer_references[stem]]
    words = graph_tokenizers[stem].basic_tokenize(texts).to_list()
    basic = reference_tokenizers[stem].basic_tokenizer
    for text, row_words in zip(texts, words):
        assert [word.decode("utf-8") for word in row_words] == basic.tokenize(text), ascii(text)


def _python_features(tokenizer, texts_a, texts_b, max_seq_length):
    rows = [packing.encode_text_pair(tokenizer, text_a, text_b, max_seq_length)
            for text_a, text_b in zip(texts_a, texts_b)]
    return {key: np.array([getattr(row, key) for row in rows], np.int32)
            for key in ("input_ids", "input_mask", "segment_ids")}


@pytest.mark.parametrize("stem", STEMS)
def test_packed_pairs_equal_packing_module(stem, graph_tokenizers, reference_tokenizers, tokenizer_references):
    texts = [row["text"] for row in tokenizer_references[stem]][:60]
    texts_a = texts[0::2]
    texts_b = texts[1::2]
    # Rows without a second segment: empty string, and a text that tokenizes to nothing.
    texts_b[0] = ""
    texts_b[1] = "\x00\u200b "
    for max_seq_length in (8, 32):
        graph = graph_tokenizers[stem](tf.constant(texts_a), tf.constant(texts_b),
                                       max_seq_length=max_seq_length)
        expected = _python_features(reference_tokenizers[stem], texts_a, texts_b, max_seq_length)
        for key, value in expected.items():
            assert graph[key].dtype == tf.int32 and graph[key].shape == value.shape
            np.testing.assert_array_equal(graph[key].numpy(), value, err_msg=f"{key} S={max_seq_length}")
    single = graph_tokenizers[stem](tf.constant(texts_a))
    expected = _python_features(reference_tokenizers[stem], texts_a, [None] * len(texts_a), 32)
    for key, value in expected.items():
        np.testing.assert_array_equal(single[key].numpy(), value, err_msg=key)


def test_reference_sentences_packing(reference_sentences, minilm_reference, minilm_ckpt_dir):
    tokenizer = text_graph.InGraphBertTokenizer(minilm_ckpt_dir / "vocab.txt", do_lower_case=True,
                                                max_seq_length=reference_sentences["max_seq_length"])
    examples = reference_sentences["examples"]
    features = tokenizer(tf.constant([example["text_a"] for example in examples]),
                         tf.constant([example["text_b"] or "" for example in examples]))
    for key in ("input_ids", "input_mask", "segment_ids"):
        np.testing.assert_array_equal(features[key].numpy(), minilm_reference[key], err_msg=key)


def test_truncation_closed_form_in_graph():
    grid = np.array([(a, b, m) for a in range(12) for b in range(12) for m in range(0, 25)], np.int32)
    new_a, new_b = text_graph.truncated_pair_lengths_in_graph(
        tf.constant(grid[:, 0]), tf.constant(grid[:, 1]), tf.constant(grid[:, 2]))
    expected = np.array([packing.truncated_pair_lengths(a, b, m) for a, b, m in grid.tolist()])
    np.testing.assert_array_equal(np.stack([new_a.numpy(), new_b.numpy()], axis=1), expected)


_FUZZ_ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 4
    + list(" " * 20 + "\t\n\r\x0b\x0c\x00\x07\x1c\x85\xa0\u2009\u3000\u2028\u2029\ufffd\u200b\u200d\xad\ufeff")
    + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2019\u201c\u2014\u2026\u00bf\u3002\uff01\u037e\u1fef")
    + list("\u00e9\u00c9\u00df\u0130\u03a3\u03a3\u03c3\u038a\u0301\u0303\u00f1\u00c5\u1e9e\ufb01\u00b2\u00bd")
    + list("\u4e2d\u6587\u3400\uf900\U00020000\u3053\u30ab\ud55c\uac00\U0001f600\ue000\U000F0000\u0378")
    + list("\u2c2f\u0ece\U000105c9\U00011383\U00011f43")  # characters newer than some Unicode tables
)


@pytest.mark.parametrize("stem", STEMS)
def test_random_strings_equal_python(stem, graph_tokenizers, reference_tokenizers):
    randomizer = random.Random(99)
    texts = ["".join(randomizer.choice(_FUZZ_ALPHABET) for _ in range(randomizer.randint(0, 40)))
             for _ in range(400)]
    texts += ["ab" * 100, "ab" * 100 + "a", "\u00e9" * 201, "x" * 199 + "\u00c9", "[UNK] [CLS]", ""]
    ids = graph_tokenizers[stem].tokenize(tf.constant(texts)).to_list()
    python = reference_tokenizers[stem]
    for text, row_ids in zip(texts, ids):
        assert row_ids == python.convert_tokens_to_ids(python.tokenize(text)), ascii(text)


def test_invalid_utf8_is_dropped_like_the_original(graph_tokenizers, reference_tokenizers):
    raw = [b"caf\xc3\xa9\xff latte", b"a\xed\xa0\x80b \xe4\xb8", b"\xc0\xafok"]
    ids = graph_tokenizers["uncased"].tokenize(tf.constant(raw)).to_list()
    python = reference_tokenizers["uncased"]
    assert ids == [python.convert_tokens_to_ids(python.tokenize(text)) for text in raw]


def test_single_code_points_equal_python(graph_tokenizers, reference_tokenizers):
    """Every code point whose class or case matters, alone and in context (uncased vocabulary)."""
    selected = set(range(0, 0x800))
    for code_point in range(0x110000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        char = chr(code_point)
        category = unicodedata.category(char)
        if char.lower() != char or category[0] in "PZ" or category in ("Mn", "Cc", "Cf"):
            selected.add(code_point)
    selected.update([0x105C9, 0x11383, 0x16121, 0x0ECE, 0x11F00, 0x13439, 0x11B00])
    texts = []
    for code_point in sorted(selected):
        char = chr(code_point)
        texts += [char, f"A{char}b \u03a3{char} {char}\u03a3"]
    ids = graph_tokenizers["uncased"].tokenize(tf.constant([t.encode("utf-8") for t in texts])).to_list()
    python = reference_tokenizers["uncased"]
    mismatches = [ascii(text) for text, row_ids in zip(texts, ids)
                  if row_ids != python.convert_tokens_to_ids(python.tokenize(text))]
    assert not mismatches, mismatches[:20]


def test_vocab_file_checks(tmp_path):
    good = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "##lo", "\u2028", "##\u2028"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(good) + "\n", encoding="utf-8")
    tokenizer = text_graph.InGraphBertTokenizer(path, do_lower_case=True, max_seq_length=8)
    assert tokenizer.tokenize(["Hello hellolo x"]).to_list() == [[4, 4, 5, 1]]

    for bad_lines, message in [
        (good + ["hello"], "appears again|repeats"),
        (good + [" world"], "surrounding whitespace"),
        (good[:1] + good[2:], "special token '\\[UNK\\]'"),
        (good + ["", "x"], "empty line"),
    ]:
        path.write_text("\n".join(bad_lines) + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            text_graph.InGraphBertTokenizer(path)


class _TokenizerModule(tf.Module):
    """A tiny SavedModel: raw strings in, packed ids out."""

    def __init__(self, vocab_file):
        super().__init__()
        self.tokenizer = text_graph.InGraphBertTokenizer(vocab_file, do_lower_case=True, max_seq_length=16)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
    def serve(self, text_a, text_b):
        return self.tokenizer(text_a, text_b)


def _graph_op_types(saved_model_dir):
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    op_types = set()
    for meta_graph in proto.meta_graphs:
        op_types.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            op_types.update(node.op for node in function.node_def)
    return op_types


def test_saved_model_round_trip(tmp_path, vocab_files, reference_tokenizers, tokenizer_references):
    module = _TokenizerModule(vocab_files["uncased"])
    texts = [row["text"] for row in tokenizer_references["uncased"]][:40]
    text_a = tf.constant(texts[:20])
    text_b = tf.constant([""] + texts[21:40])
    before = module.serve(text_a, text_b)

    export_dir = tmp_path / "tokenizer_savedmodel"
    tf.saved_model.save(module, str(export_dir))
    assert (export_dir / "assets" / "vocab.txt").read_bytes() == vocab_files["uncased"].read_bytes()

    op_types = _graph_op_types(export_dir)
    text_ops = {op for op in op_types if op in ("WordpieceTokenizeWithOffsets", "NormalizeUTF8")}
    assert text_ops == set(text_graph.TENSORFLOW_TEXT_OPS)
    assert not any("Trimmer" in op or "RoundRobin" in op or "CombineSegments" in op for op in op_types)

    loaded = tf.saved_model.load(str(export_dir))
    after = loaded.serve(text_a, text_b)
    expected = _python_features(reference_tokenizers["uncased"], texts[:20], [""] + texts[21:40], 16)
    for key, value in expected.items():
        np.testing.assert_array_equal(before[key].numpy(), value, err_msg=key)
        np.testing.assert_array_equal(after[key].numpy(), value, err_msg=key)


# ------------------------------------------------------------------------------------ per-batch padding
def _round_up(value, multiple):
    return -(-value // multiple) * multiple


@pytest.mark.parametrize("padding", [{"pad_to_multiple_of": 8}, {"padded_lengths": [16, 24]}])
def test_per_batch_padding_keeps_the_padded_prefix(padding, vocab_files, graph_tokenizers, tokenizer_references):
    """Per-batch packing = packing to max_seq_length, cut after the batch's padded length."""
    full = graph_tokenizers["uncased"]  # max_seq_length=32, padded to 32
    per_batch = text_graph.InGraphBertTokenizer(vocab_files["uncased"], do_lower_case=True,
                                                max_seq_length=32, **padding)
    texts = [row["text"] for row in tokenizer_references["uncased"]][:12]
    batches = [
        (texts[:6], texts[6:12]),  # mixed lengths
        (["Short."], ["Also short."]),  # a batch of one
        ([""], [""]),  # nothing but [CLS] [SEP]
        ([" ".join(["word"] * 50)], ["tail"]),  # longer than max_seq_length: truncated
        ([], []),  # an empty batch
    ]
    for text_a, text_b in batches:
        got = per_batch(tf.constant(text_a, tf.string), tf.constant(text_b, tf.string))
        want = {key: value.numpy() for key, value in full(tf.constant(text_a, tf.string),
                                                         tf.constant(text_b, tf.string)).items()}
        longest = int(want["input_mask"].sum(axis=1).max(initial=1))
        if "pad_to_multiple_of" in padding:
            width = min(32, _round_up(longest, 8))
        else:
            width = min(length for length in (16, 24, 32) if length >= longest)
        for key, value in want.items():
            assert got[key].shape == (len(text_a), width), (key, text_a[:1])
            np.testing.assert_array_equal(got[key].numpy(), value[:, :width], err_msg=key)
            assert not value[:, width:].any()


def test_padded_length_in_graph():
    num_tokens = tf.constant([3, 17, 9], tf.int32)
    assert text_graph.padded_length_in_graph(num_tokens, 128) == 128  # no option: static
    assert int(text_graph.padded_length_in_graph(num_tokens, 128, pad_to_multiple_of=8)) == 24
    assert int(text_graph.padded_length_in_graph(num_tokens, 20, pad_to_multiple_of=8)) == 20  # capped
    assert int(text_graph.padded_length_in_graph(num_tokens, 128, pad_to_multiple_of=1)) == 17
    assert int(text_graph.padded_length_in_graph(tf.zeros([0], tf.int32), 128, pad_to_multiple_of=8)) == 8
    assert int(text_graph.padded_length_in_graph(num_tokens, 128, padded_lengths=[16, 64])) == 64
    assert int(text_graph.padded_length_in_graph(num_tokens, 128, padded_lengths=[16])) == 128
    assert int(text_graph.padded_length_in_graph(num_tokens[:1], 128, padded_lengths=[16])) == 16


def test_per_batch_padding_in_a_traced_function(vocab_files):
    """Traced once with an unknown batch size: the packed width is a graph value, not a constant."""
    tokenizer = text_graph.InGraphBertTokenizer(vocab_files["uncased"], do_lower_case=True,
                                                max_seq_length=64, pad_to_multiple_of=8)
    packed = tf.function(lambda text: tokenizer(text)["input_ids"],
                         input_signature=[tf.TensorSpec([None], tf.string)])
    assert packed.get_concrete_function().output_shapes.as_list() == [None, None]
    assert packed(tf.constant(["hello"])).shape == (1, 8)
    assert packed(tf.constant(["hello", "word " * 20])).shape == (2, 24)
    assert packed(tf.constant(["word " * 100])).shape == (1, 64)


def test_bad_padding_settings_are_input_errors(vocab_files):
    from bert_tf.errors import InputError

    for settings, message in [
        ({"pad_to_multiple_of": 0}, "positive integer"),
        ({"pad_to_multiple_of": 2.5}, "positive integer"),
        ({"padded_lengths": [0, 16]}, "1..max_seq_length=32"),
        ({"padded_lengths": [64]}, "1..max_seq_length=32"),
        ({"pad_to_multiple_of": 8, "padded_lengths": [16]}, "not both"),
    ]:
        with pytest.raises(InputError, match=message):
            text_graph.InGraphBertTokenizer(vocab_files["uncased"], max_seq_length=32, **settings)
