"""A WordPiece vocabulary from text files, in the layout of the original BERT vocabularies.

Steps (`build_vocabulary`):

1. `count_words`: every line of the input files goes through the original `BasicTokenizer` (the one
   `FullTokenizer` uses: control characters dropped, CJK characters split off as single-character
   words, optional lower casing and accent stripping, punctuation split off), and the words are counted.
2. `learn_vocabulary`: tensorflow-text's WordPiece learner
   (`tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib`, the algorithm of
   `bert_vocab_from_dataset`): a binary search for a count threshold whose vocabulary fits in
   `vocab_size` (within 5% below it when one is found). Every character of the kept words is a token, alone and as a
   `##` piece, so WordPiece can always spell a word out. The words are given to it in a fixed order
   (count descending, then the word), so the vocabulary depends only on the text and the settings.
3. The layout of the original vocabularies: `[PAD]`, `[unused0]` .. `[unused<num_unused - 1>]`,
   `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, then more `[unusedN]` until the file has exactly
   `vocab_size` lines, then the learned tokens (single characters first, sorted; then the others by
   count). The `[unusedN]` slots are the ones `extend_vocab.py` fills with domain words later.

The file loads in `FullTokenizer` and in `InGraphBertTokenizer` (distinct, non-empty lines without
surrounding whitespace).
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from bert_tf.errors import InputError
from bert_tf.files import atomic_write_text, check_not_an_input, expand_input_files, protected_inputs, read_text_file
from bert_tf.tokenization.full_tokenizer import BasicTokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "VocabularyError",
    "VocabularyConfig",
    "VocabularySummary",
    "count_words",
    "reserved_tokens",
    "learn_vocabulary",
    "build_vocabulary",
]

SPECIAL_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[MASK]")
# A vocabulary within this fraction below the room is taken without searching further (tensorflow-text's default).
_SLACK_RATIO = 0.05


class VocabularyError(InputError):
    """Bad settings or input for building a vocabulary."""


@dataclasses.dataclass(frozen=True)
class VocabularyConfig:
    """Settings of `build_vocabulary`.

    Attributes:
      vocab_size: lines of the vocabulary file (special and `[unused]` tokens included).
      do_lower_case: lower case and strip accents before counting (as `FullTokenizer` will).
      num_unused: `[unusedN]` slots between `[PAD]` and `[UNK]` (the original English vocabularies
        have 99); the vocabulary is padded to `vocab_size` with more after `[MASK]`.
      min_count: lowest count threshold the learner tries (tensorflow-text's `lower_thresh`): pieces
        seen fewer times are never learned (single characters always are). The threshold rises above it
        until the vocabulary fits, so it matters only for a corpus too small to fill `vocab_size` (the
        rest is then `[unused]` slots).
      max_unique_chars: the most frequent characters kept (tensorflow-text's `max_unique_chars`); words
        with another character are not counted, so that character becomes `[UNK]`. Each character
        takes two entries (`x` and `##x`). Raise it for Chinese text (thousands of characters).
      max_token_length: longer words are not counted (tensorflow-text's `max_token_length`).
    """

    vocab_size: int
    do_lower_case: bool = True
    num_unused: int = 99
    min_count: int = 2
    max_unique_chars: int = 1000
    max_token_length: int = 50

    def validate(self) -> None:
        """Raises `VocabularyError` naming the flag of the first bad value."""
        minimum = 1 + self.num_unused + len(SPECIAL_TOKENS) + 1
        for name, value, lowest in (("--num_unused", self.num_unused, 0), ("--min_count", self.min_count, 1),
                                    ("--max_unique_chars", self.max_unique_chars, 1),
                                    ("--max_token_length", self.max_token_length, 1),
                                    ("--vocab_size", self.vocab_size, minimum)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise VocabularyError(f"{name}={value}: must be an integer >= {lowest}"
                                      + (" ([PAD], the [unused] slots, [UNK], [CLS], [SEP], [MASK] and a token)"
                                         if name == "--vocab_size" else ""))


@dataclasses.dataclass
class VocabularySummary:
    """What `build_vocabulary` read and wrote.

    Attributes:
      input_files, output_file: the files.
      num_lines, num_words, num_distinct_words: lines read, words counted, distinct words.
      num_learned: tokens from the learner; num_unused: `[unusedN]` slots (before and after `[UNK]`..).
      vocab_size: lines written.
    """

    input_files: List[str]
    output_file: str
    num_lines: int
    num_words: int
    num_distinct_words: int
    num_learned: int
    num_unused: int
    vocab_size: int

    def format(self) -> str:
        return (f"read {len(self.input_files)} file(s): {self.num_lines} lines, {self.num_words} words "
                f"({self.num_distinct_words} distinct); wrote {self.vocab_size} tokens to {self.output_file}: "
                f"{self.num_learned} learned, {self.num_unused} [unused] slots, [PAD] and "
                f"{len(SPECIAL_TOKENS)} special tokens")


def count_words(texts: Iterable[str], do_lower_case: bool = True) -> Tuple[collections.Counter, int]:
    """Counts the words `BasicTokenizer(do_lower_case)` makes of each line of `texts`.

    Returns:
      (Counter word -> occurrences, number of lines).
    """
    tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    counts: collections.Counter = collections.Counter()
    num_lines = 0
    for text in texts:
        for line in text.split("\n"):
            num_lines += 1
            counts.update(tokenizer.tokenize(line))
    return counts, num_lines


def reserved_tokens(num_unused: int) -> List[str]:
    """`[PAD]`, `[unused0]` .. `[unused<num_unused - 1>]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`."""
    return ["[PAD]"] + [f"[unused{index}]" for index in range(num_unused)] + list(SPECIAL_TOKENS)


def learn_vocabulary(word_counts: Dict[str, int], config: VocabularyConfig) -> List[str]:
    """The vocabulary (`config.vocab_size` tokens in the original layout) of `word_counts`.

    tensorflow-text's learner steps (`get_input_words`, `get_allowed_chars`, `filter_input_words`,
    `learn_with_thresh`) with a binary search over the count threshold that, unlike its `learn`, never
    returns more tokens than fit: it takes the first threshold found whose vocabulary fits and is within
    5% of the room, else the lowest threshold whose vocabulary fits.

    Raises:
      VocabularyError: no words, or more characters than `vocab_size` can hold.
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    config.validate()
    if not word_counts:
        raise VocabularyError("--input_file: no words in the input (every line is empty)")
    reserved = reserved_tokens(config.num_unused)
    ordered = sorted(word_counts.items(), key=lambda item: (-item[1], item[0]))
    params = learner.Params(
        upper_thresh=None, lower_thresh=config.min_count, num_iterations=4, max_input_tokens=-1,
        max_token_length=config.max_token_length, max_unique_chars=config.max_unique_chars,
        vocab_size=config.vocab_size, slack_ratio=_SLACK_RATIO, include_joiner_token=True, joiner="##",
        reserved_tokens=reserved)
    words = learner.get_input_words(ordered, reserved, config.max_token_length)
    words = learner.filter_input_words(words, learner.get_allowed_chars(words, config.max_unique_chars), -1)
    if not words:
        raise VocabularyError(f"--input_file: no word of at most {config.max_token_length} characters")
    low, high = config.min_count, max(config.min_count, max(count for _, count in words))
    fitting: Optional[List[str]] = None
    while low <= high:
        threshold = (low + high) // 2
        tokens = learner.learn_with_thresh(words, threshold, params)
        if len(tokens) > config.vocab_size:
            low = threshold + 1
            continue
        fitting = tokens
        if len(tokens) >= (1 - _SLACK_RATIO) * config.vocab_size:
            break
        high = threshold - 1
    if fitting is None:
        num_chars = len(learner.extract_char_tokens(words))
        raise VocabularyError(
            f"--vocab_size={config.vocab_size} is too small: the {num_chars} distinct characters kept need "
            f"{2 * num_chars} entries (each as 'x' and '##x') besides {len(reserved)} reserved ones; raise "
            f"--vocab_size or lower --max_unique_chars")
    learned = fitting[len(reserved):]
    if fitting[:len(reserved)] != reserved or any(token in reserved for token in learned):
        raise AssertionError("the learner did not keep the reserved tokens first")
    room = config.vocab_size - len(reserved)
    extra_unused = [f"[unused{index}]" for index in range(config.num_unused, config.num_unused + room - len(learned))]
    return reserved + extra_unused + learned


def build_vocabulary(input_file: Union[str, Sequence[str]], output_file: str,
                     config: VocabularyConfig) -> VocabularySummary:
    """Counts the words of the input files, learns a vocabulary and writes it (one token a line).

    Args:
      input_file: comma-separated files / glob patterns (or a list), UTF-8 text.
      output_file: the vocabulary file to write (through a temporary name).
      config: `VocabularyConfig`.
    Raises:
      VocabularyError / InputError: bad settings, missing or non-UTF-8 input, no words, an output
        that is an input, too small a `vocab_size`.
    """
    config.validate()
    input_files = expand_input_files(input_file)
    with protected_inputs({"--input_file": input_files}):
        check_not_an_input(output_file, "--output_file")
        counts, num_lines = count_words((read_text_file(path) for path in input_files), config.do_lower_case)
        tokens = learn_vocabulary(counts, config)
        atomic_write_text(output_file, "".join(token + "\n" for token in tokens))
    num_unused = sum(1 for token in tokens if token.startswith("[unused"))
    return VocabularySummary(
        input_files=input_files, output_file=output_file, num_lines=num_lines,
        num_words=sum(counts.values()), num_distinct_words=len(counts),
        num_learned=len(tokens) - num_unused - 1 - len(SPECIAL_TOKENS), num_unused=num_unused,
        vocab_size=len(tokens))
