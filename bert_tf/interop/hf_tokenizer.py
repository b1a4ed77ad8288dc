"""Hugging Face tokenizer files <-> the original WordPiece tokenizer's settings (vocabulary, `do_lower_case`).

Reading a folder (`read_tokenizer`): the vocabulary from `vocab.txt`, else from `tokenizer.json`'s WordPiece
model (transformers 5 writes only `tokenizer.json`); `do_lower_case` from `tokenizer_config.json` and
`tokenizer.json`'s `BertNormalizer`. The original `FullTokenizer` has one setting: `do_lower_case` lower-cases
and strips accents, Chinese characters are always split, text always cleaned, `[UNK]` for unknown words. A
tokenizer it cannot reproduce is refused with one line saying why: another tokenizer class or model type
(BPE, Unigram), `tokenize_chinese_chars` false, `strip_accents` differing from `do_lower_case`, other special
tokens, added tokens beyond the special ones, settings that contradict each other.

Writing a folder (`write_tokenizer`): `vocab.txt`, `tokenizer_config.json` (`BertTokenizer`),
`special_tokens_map.json` and a `tokenizer.json` whose WordPiece keeps the original's 200-character word limit,
which `transformers.AutoTokenizer` loads.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

from absl import logging

from bert_tf.files import atomic_write_text, read_text_file
from bert_tf.interop.formats import ConversionError, read_json_object

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]"}
BERT_TOKENIZER_CLASSES = ("BertTokenizer", "BertTokenizerFast")
# The original WordpieceTokenizer's word limit; Hugging Face's default is 100.
ORIGINAL_MAX_INPUT_CHARS_PER_WORD = 200
CONTINUING_SUBWORD_PREFIX = "##"


def _token_text(value) -> Optional[str]:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict (`content`)."""
    return value.get("content") if isinstance(value, dict) else value


def read_vocab_file(path: str) -> List[str]:
    """The tokens of a `vocab.txt`, one a line, in id order (each line stripped, as the original `load_vocab`)."""
    lines = read_text_file(path).split("\n")
    if lines and not lines[-1].strip():
        lines.pop()  # after the last newline
    return [line.strip() for line in lines]


def _settings_from_config(path: str, config: Dict[str, Any]) -> Optional[bool]:
    """`do_lower_case` from `tokenizer_config.json` (None: not given); refuses what the original cannot do."""
    tokenizer_class = config.get("tokenizer_class")
    if tokenizer_class is not None and tokenizer_class not in BERT_TOKENIZER_CLASSES:
        raise ConversionError(f"{path}: tokenizer_class {tokenizer_class!r} is not BERT's WordPiece tokenizer "
                              f"({' or '.join(BERT_TOKENIZER_CLASSES)})")
    for key, standard in SPECIAL_TOKENS.items():
        value = _token_text(config.get(key, standard))
        if value is not None and value != standard:
            raise ConversionError(f"{path}: {key} {value!r}: the original tokenizer uses {standard}")
    if config.get("tokenize_chinese_chars", True) is False:
        raise ConversionError(f"{path}: tokenize_chinese_chars false: the original tokenizer always splits "
                              "Chinese characters")
    never_split = [token for token in config.get("never_split") or () if token not in SPECIAL_TOKENS.values()]
    if never_split:
        raise ConversionError(f"{path}: never_split {never_split[0]!r}: the original tokenizer has no such list")
    do_lower_case = config.get("do_lower_case")
    strip_accents = config.get("strip_accents")
    lower = True if do_lower_case is None else bool(do_lower_case)
    if strip_accents is not None and bool(strip_accents) != lower:
        raise ConversionError(f"{path}: strip_accents {str(strip_accents).lower()} with do_lower_case "
                              f"{str(lower).lower()}: the original tokenizer strips accents exactly when it "
                              "lower-cases")
    return None if do_lower_case is None else lower


def _settings_from_tokenizer_json(path: str, tokenizer: Dict[str, Any]) -> Tuple[bool, List[str]]:
    """(`do_lower_case`, vocabulary) of a `tokenizer.json`; refuses anything but BERT's WordPiece pipeline."""
    model = tokenizer.get("model") or {}
    if model.get("type") != "WordPiece":
        raise ConversionError(f"{path}: model type {model.get('type')!r} is not WordPiece: the original "
                              "tokenizer cannot reproduce it")
    if model.get("continuing_subword_prefix", CONTINUING_SUBWORD_PREFIX) != CONTINUING_SUBWORD_PREFIX:
        raise ConversionError(f"{path}: continuing_subword_prefix {model['continuing_subword_prefix']!r}: the "
                              f"original tokenizer uses {CONTINUING_SUBWORD_PREFIX!r}")
    if model.get("unk_token", "[UNK]") != "[UNK]":
        raise ConversionError(f"{path}: unk_token {model['unk_token']!r}: the original tokenizer uses [UNK]")
    normalizer = tokenizer.get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        raise ConversionError(f"{path}: normalizer {normalizer.get('type')!r} is not BertNormalizer: the original "
                              "tokenizer cannot reproduce it")
    for key in ("clean_text", "handle_chinese_chars"):
        if normalizer.get(key, True) is False:
            raise ConversionError(f"{path}: normalizer {key} false: the original tokenizer always does it")
    lower = bool(normalizer.get("lowercase", True))
    strip_accents = normalizer.get("strip_accents")
    if strip_accents is not None and bool(strip_accents) != lower:
        raise ConversionError(f"{path}: normalizer strip_accents {str(strip_accents).lower()} with lowercase "
                              f"{str(lower).lower()}: the original tokenizer strips accents exactly when it "
                              "lower-cases")
    pre_tokenizer = (tokenizer.get("pre_tokenizer") or {}).get("type")
    if pre_tokenizer != "BertPreTokenizer":
        raise ConversionError(f"{path}: pre_tokenizer {pre_tokenizer!r} is not BertPreTokenizer: the original "
                              "tokenizer cannot reproduce it")
    vocab_map = model.get("vocab")
    if not isinstance(vocab_map, dict) or sorted(vocab_map.values()) != list(range(len(vocab_map))):
        raise ConversionError(f"{path}: the WordPiece vocab must map tokens to the ids 0..n-1, each once")
    vocab = sorted(vocab_map, key=vocab_map.get)
    specials = set(SPECIAL_TOKENS.values())
    for added in tokenizer.get("added_tokens") or ():
        if added.get("content") not in specials or vocab_map.get(added.get("content")) != added.get("id"):
            raise ConversionError(f"{path}: added token {added.get('content')!r} (id {added.get('id')}): the "
                                  "original tokenizer has no added tokens beyond the vocabulary's special ones")
    limit = model.get("max_input_chars_per_word", 100)
    if limit != ORIGINAL_MAX_INPUT_CHARS_PER_WORD:
        logging.info("%s: words longer than %s characters become [UNK] there; the original tokenizer's limit is "
                     "%d characters", path, limit, ORIGINAL_MAX_INPUT_CHARS_PER_WORD)
    return lower, vocab


def read_tokenizer(folder: str) -> Tuple[List[str], bool]:
    """(vocabulary in id order, `do_lower_case`) of a Hugging Face folder's tokenizer files.

    Raises:
      ConversionError: no vocabulary, a tokenizer the original cannot reproduce, or files that contradict
        each other (naming the file and field).
    """
    vocab_path = os.path.join(folder, VOCAB_FILE)
    config_path = os.path.join(folder, TOKENIZER_CONFIG_FILE)
    tokenizer_path = os.path.join(folder, TOKENIZER_FILE)
    config_lower = None
    if os.path.exists(config_path):
        config_lower = _settings_from_config(config_path, read_json_object(config_path))
    json_lower, json_vocab = None, None
    if os.path.exists(tokenizer_path):
        json_lower, json_vocab = _settings_from_tokenizer_json(tokenizer_path, read_json_object(tokenizer_path))
    if config_lower is not None and json_lower is not None and config_lower != json_lower:
        raise ConversionError(f"{config_path}: do_lower_case {str(config_lower).lower()} but {tokenizer_path} "
                              f"lowercase {str(json_lower).lower()}: which one the model was trained with is unclear")
    vocab = read_vocab_file(vocab_path) if os.path.exists(vocab_path) else None
    if vocab is None and json_vocab is None:
        raise ConversionError(f"{folder}: no {VOCAB_FILE} or {TOKENIZER_FILE}: the vocabulary is needed")
    if vocab is not None and json_vocab is not None and vocab != json_vocab:
        raise ConversionError(f"{vocab_path} and {tokenizer_path} list different vocabularies")
    do_lower_case = next((value for value in (config_lower, json_lower) if value is not None), True)
    return vocab if vocab is not None else json_vocab, do_lower_case


def _special_tokens_json() -> str:
    return json.dumps(SPECIAL_TOKENS, indent=2, sort_keys=True) + "\n"


def tokenizer_json(vocab: List[str], do_lower_case: bool) -> Dict[str, Any]:
    """The `tokenizer.json` of BERT's WordPiece tokenizer for `vocab` (the original's 200-character word limit)."""
    ids = {token: index for index, token in enumerate(vocab)}
    added = [{"id": ids[token], "content": token, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
             if token in ids]

    def template(*parts):
        return [{"SpecialToken": {"id": part, "type_id": type_id}} if part.startswith("[") else
                {"Sequence": {"id": part, "type_id": type_id}} for part, type_id in parts]

    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": bool(do_lower_case)},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": template(("[CLS]", 0), ("A", 0), ("[SEP]", 0)),
            "pair": template(("[CLS]", 0), ("A", 0), ("[SEP]", 0), ("B", 1), ("[SEP]", 1)),
            "special_tokens": {token: {"id": token, "ids": [ids[token]], "tokens": [token]}
                               for token in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": CONTINUING_SUBWORD_PREFIX, "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": CONTINUING_SUBWORD_PREFIX,
                  "max_input_chars_per_word": ORIGINAL_MAX_INPUT_CHARS_PER_WORD, "vocab": ids},
    }


def write_tokenizer(folder: str, vocab: List[str], do_lower_case: bool, model_max_length: int) -> None:
    """Writes `vocab.txt`, `tokenizer_config.json`, `special_tokens_map.json` and `tokenizer.json` into `folder`.

    Raises:
      ConversionError: the vocabulary lacks `[CLS]`, `[SEP]` or `[UNK]`, or lists a token twice.
    """
    missing = [token for token in ("[CLS]", "[SEP]", "[UNK]") if token not in vocab]
    if missing:
        raise ConversionError(f"the vocabulary has no {', '.join(missing)}: it is not a BERT WordPiece vocabulary")
    seen = set()
    for token in vocab:
        if token in seen:
            raise ConversionError(f"the vocabulary lists {token!r} twice: Hugging Face's tokenizer.json cannot")
        seen.add(token)
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": bool(do_lower_case),
              "tokenize_chinese_chars": True, "strip_accents": None, "model_max_length": int(model_max_length),
              "clean_up_tokenization_spaces": True, **SPECIAL_TOKENS}
    atomic_write_text(os.path.join(folder, VOCAB_FILE), "".join(token + "\n" for token in vocab))
    atomic_write_text(os.path.join(folder, TOKENIZER_CONFIG_FILE), json.dumps(config, indent=2, sort_keys=True) + "\n")
    atomic_write_text(os.path.join(folder, SPECIAL_TOKENS_MAP_FILE), _special_tokens_json())
    atomic_write_text(os.path.join(folder, TOKENIZER_FILE),
                      json.dumps(tokenizer_json(vocab, do_lower_case), indent=2, ensure_ascii=False) + "\n")
