"""Tests for bert_tf.tokenization.full_tokenizer: exact parity with the original google-research/bert tokenizer
(the references' tokenizers and rows are tests/conftest.py's `reference_tokenizers`, `tokenizer_references`)."""
import json
import random
import unicodedata

import pytest

from bert_tf import tokenization
from tests.conftest import REFERENCE_VOCABULARIES


@pytest.mark.parametrize("stem", [case[0] for case in REFERENCE_VOCABULARIES])
def test_matches_google_reference(stem, reference_tokenizers, tokenizer_references):
    tokenizer = reference_tokenizers[stem]
    rows = tokenizer_references[stem]
    assert len(rows) == 200
    mismatches = []
    for line_number, row in enumerate(rows, start=1):
        tokens = tokenizer.tokenize(row["text"])
        ids = tokenizer.convert_tokens_to_ids(tokens)
        if tokens != row["google_tokens"] or ids != row["google_ids"]:
            mismatches.append((line_number, ascii(row["text"])[:80], tokens[:8], row["google_tokens"][:8]))
        assert tokenizer.convert_ids_to_tokens(ids) == tokens
    assert not mismatches, mismatches


def test_uncased_diffs_file_google_side(reference_tokenizers, refs_dir):
    """The strings where another popular tokenizer differs: we must give the original's answer."""
    with open(refs_dir / "tokenizer_uncased_public_diffs.json", encoding="utf-8") as reader:
        diffs = json.load(reader)
    for entry in diffs:
        assert reference_tokenizers["uncased"].tokenize(entry["text"]) == entry["google"], ascii(entry["text"])


def test_load_vocab(tmp_path):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_bytes("[PAD]\n[UNK]\r\n  spaced  \nhello\n\nhello\nlast".encode("utf-8"))
    vocab = tokenization.load_vocab(vocab_file)
    assert list(vocab.items()) == [("[PAD]", 0), ("[UNK]", 1), ("spaced", 2), ("hello", 5), ("", 4),
                                   ("last", 6)]
    vocab_file.write_bytes(b"a\nb\n")
    assert dict(tokenization.load_vocab(vocab_file)) == {"a": 0, "b": 1}


def test_load_vocab_real_sizes(data_dir):
    for folder, size in [("bert-base-uncased", 30522), ("bert-base-cased", 28996),
                         ("bert-base-chinese", 21128)]:
        vocab = tokenization.load_vocab(data_dir / "vocab" / folder / "vocab.txt")
        assert len(vocab) == size
        assert vocab["[PAD]"] == 0 and vocab["[CLS]"] in (101,) and vocab["[SEP]"] == 102


def test_convert_to_unicode():
    assert tokenization.convert_to_unicode("abc") == "abc"
    assert tokenization.convert_to_unicode("é".encode("utf-8") + b"\xff") == "é"
    assert tokenization.printable_text(b"x") == "x"
    with pytest.raises(ValueError, match="Unsupported string type"):
        tokenization.convert_to_unicode(3)


def test_basic_tokenizer():
    lower = tokenization.BasicTokenizer(do_lower_case=True)
    assert lower.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert lower.tokenize("H\u00E9llo") == ["hello"]
    assert lower.tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]
    cased = tokenization.BasicTokenizer(do_lower_case=False)
    assert cased.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]
    # NUL, U+FFFD and control/format characters are dropped, Zs becomes a separator, U+2028 splits.
    assert cased.tokenize("a\x00b\u200bc\xa0d\u2028e\ufffdf") == ["abc", "d", "ef"]
    # Private-use characters are kept (so WordPiece maps the word to [UNK]); '$' etc. are punctuation.
    assert cased.tokenize("x\ue000y $5 ^_^") == ["x\ue000y", "$", "5", "^", "_", "^"]
    # Greek final sigma is produced by str.lower.
    greek_final_sigma = "\u03c3\u03b9\u03c3\u03c5\u03c6\u03bf\u03c2"
    assert lower.tokenize("\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3") == [greek_final_sigma]


def test_wordpiece_tokenizer():
    vocab = {token: index for index, token in enumerate(
        ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing"])}
    tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
    short = tokenization.WordpieceTokenizer(vocab=vocab, max_input_chars_per_word=5)
    assert short.tokenize("want wanted") == ["want", "[UNK]"]


def test_word_length_limit_is_200_characters(reference_tokenizers):
    tokenizer = reference_tokenizers["uncased"]
    assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
    pieces = tokenizer.tokenize("a" * 200)
    assert "".join(piece.replace("##", "") for piece in pieces) == "a" * 200


def test_private_use_character_gives_unk(reference_tokenizers):
    assert reference_tokenizers["uncased"].tokenize("hello \ue000 wor\U000F0000ld") == ["hello", "[UNK]", "[UNK]"]


def test_unknown_token_and_id_errors_name_the_item(reference_tokenizers):
    tokenizer = reference_tokenizers["uncased"]
    with pytest.raises(KeyError, match="not-a-token"):
        tokenizer.convert_tokens_to_ids(["hello", "not-a-token"])
    with pytest.raises(KeyError, match="999999"):
        tokenizer.convert_ids_to_tokens([101, 999999])


def test_full_tokenizer_attributes(reference_tokenizers):
    tokenizer = reference_tokenizers["uncased"]
    assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
    assert isinstance(tokenizer.wordpiece_tokenizer, tokenization.WordpieceTokenizer)
    assert tokenizer.inv_vocab[tokenizer.vocab["hello"]] == "hello"
    assert tokenizer.tokenize(b"UNwant\xc3\xa9d,running") == ["unwanted", ",", "running"]


def test_validate_case_matches_checkpoint():
    validate = tokenization.validate_case_matches_checkpoint
    validate(True, None)
    validate(True, "")
    validate(True, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt")
    validate(False, "/models/cased_L-12_H-768_A-12/bert_model.ckpt")
    validate(False, "/models/my_model/bert_model.ckpt")  # unknown: accepted
    validate(True, "/models/minilm_l6_h384_uncased/bert_model.ckpt")
    with pytest.raises(ValueError, match=r"`--do_lower_case=False`.*seems to be a lowercased model"):
        validate(False, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt")
    with pytest.raises(ValueError, match=r"`cased_L-24_H-1024_A-16` seems to be a cased model, so you "
                                         r"should pass in `--do_lower_case=False`"):
        validate(True, "gs://bucket/cased_L-24_H-1024_A-16/bert_model.ckpt")
    with pytest.raises(ValueError, match="chinese_L-12_H-768_A-12"):
        validate(False, "chinese_L-12_H-768_A-12/bert_model.ckpt-1000")


# ---------------------------------------------------------------------------------------------------
# Cross-check of the optimised implementation against a literal, unoptimised transcription of the
# original algorithm, on random strings drawn from characters that exercise every branch.
# ---------------------------------------------------------------------------------------------------
def _literal_tokenize(text, vocab, do_lower_case):
    cleaned = []
    for char in text:
        code_point = ord(char)
        if code_point == 0 or code_point == 0xFFFD or tokenization.is_control(char):
            continue
        cleaned.append(" " if tokenization.is_whitespace(char) else char)
    spaced = []
    for char in cleaned:
        if tokenization.is_chinese_char(ord(char)):
            spaced += [" ", char, " "]
        else:
            spaced.append(char)
    basic = []
    for token in "".join(spaced).strip().split():
        if do_lower_case:
            token = token.lower()
            token = "".join(c for c in unicodedata.normalize("NFD", token)
                            if unicodedata.category(c) != "Mn")
        words, start_new_word = [], True
        for char in token:
            if tokenization.is_punctuation(char):
                words.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    words.append([])
                start_new_word = False
                words[-1].append(char)
        basic.extend("".join(word) for word in words)
    basic = " ".join(basic).strip().split()
    output = []
    for token in basic:
        if len(token) > 200:
            output.append("[UNK]")
            continue
        start, pieces, bad = 0, [], False
        while start < len(token):
            end, current = len(token), None
            while start < end:
                candidate = ("##" if start > 0 else "") + token[start:end]
                if candidate in vocab:
                    current = candidate
                    break
                end -= 1
            if current is None:
                bad = True
                break
            pieces.append(current)
            start = end
        output.extend(["[UNK]"] if bad else pieces)
    return output


_FUZZ_ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 4
    + list(" " * 20 + "\t\n\r\x0b\x0c\x00\x07\x1c\x85\xa0\u2009\u3000\u2028\u2029\ufffd\u200b\u200d\xad\ufeff")
    + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2019\u201c\u2014\u2026\u00bf\u3002\uff01")
    + list("\u00e9\u00c9\u00df\u0130\u03a3\u03c3\u038a\u0301\u0303\u00f1\u00c5\u1e9e\ufb01\u00b2\u00bd")
    + list("\u4e2d\u6587\u3400\uf900\U00020000\u3053\u30ab\ud55c\uac00\U0001f600\ue000\U000F0000\u0378")
)


def test_optimised_tokenizer_equals_literal_algorithm(reference_tokenizers):
    randomizer = random.Random(1234)
    for stem, _, lower in REFERENCE_VOCABULARIES:
        tokenizer = reference_tokenizers[stem]
        for _ in range(300):
            length = randomizer.randint(0, 40)
            text = "".join(randomizer.choice(_FUZZ_ALPHABET) for _ in range(length))
            assert tokenizer.tokenize(text) == _literal_tokenize(text, tokenizer.vocab, lower), ascii(text)
        for length in (199, 200, 201):
            text = "x" + "\u00e9" * (length - 1)  # 'é' becomes 'e' after accent stripping (lower case)
            assert tokenizer.tokenize(text) == _literal_tokenize(text, tokenizer.vocab, lower)
