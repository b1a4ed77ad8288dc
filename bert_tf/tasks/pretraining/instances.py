"""Masked-LM / next-sentence instances from documents: the original `create_instances_from_document`
and `create_masked_lm_predictions`, drawing from `random.Random` exactly as the original does.

Holds `InstanceBuilder`, the vocabulary ids it needs (`VocabularyIds`) and its tallies (`BuildCounts`).
"""
from __future__ import annotations

import array
import dataclasses
import random
from typing import TYPE_CHECKING, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from bert_tf.tasks.pretraining.corpus import Document, Sentence
from bert_tf.tasks.pretraining.records import ID_TYPECODE, ExampleEncoder, InstanceBatch
from bert_tf.tasks.pretraining.sampling import fast_draws_match_library, fast_randbelow, fast_shuffle

if TYPE_CHECKING:
    from bert_tf.tasks.pretraining.create import PretrainingDataConfig

__all__ = ["InstanceBuilder"]


@dataclasses.dataclass
class BuildCounts:
    instances: int = 0
    tokens: int = 0
    masked_positions: int = 0
    random_next: int = 0
    masked_with_mask_token: int = 0
    masked_kept: int = 0
    masked_random: int = 0

    def add(self, other: "BuildCounts") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclasses.dataclass(frozen=True)
class VocabularyIds:
    """What instance creation needs from the vocabulary (picklable, for worker processes).

    Attributes:
      cls_id, sep_id, mask_id: special token ids.
      replacement_ids: `vocab[word]` for `word in list(vocab)` (the original's random word list).
      is_continuation: bytes, 1 at ids whose token starts with `##` (and, with `continuation_mark`,
        at every marked id `id + continuation_mark`).
      text_has_special_ids: whether some document token is `[CLS]` or `[SEP]` (never with the
        original tokenizer); if not, masking candidates are found by position, without a scan.
      continuation_mark: 0, or the offset added to the ids of tokens that continue a Chinese word
        (`word_segmentation`): words are then masked whole, with one 80/10/10 draw per word.
    """

    cls_id: int
    sep_id: int
    mask_id: int
    replacement_ids: Tuple[int, ...]
    is_continuation: bytes
    text_has_special_ids: bool = True
    continuation_mark: int = 0

    @classmethod
    def from_vocab(cls, vocab: Dict[str, int], documents: Sequence[Document] = (),
                   continuation_mark: int = 0) -> "VocabularyIds":
        max_id = max(vocab.values())
        flags = bytearray(max_id + 1)
        for token, token_id in vocab.items():
            if token.startswith("##"):
                flags[token_id] = 1
        if continuation_mark:
            if continuation_mark <= max_id:
                raise ValueError(f"continuation_mark {continuation_mark} must exceed the largest id {max_id}")
            flags += bytes(continuation_mark - len(flags)) + b"\x01" * (max_id + 1)
        cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
        has_special = any(cls_id in sentence or sep_id in sentence
                          for document in documents for sentence in document)
        return cls(cls_id=cls_id, sep_id=sep_id, mask_id=vocab["[MASK]"],
                   replacement_ids=tuple(vocab[token] for token in vocab),
                   is_continuation=bytes(flags), text_has_special_ids=has_special,
                   continuation_mark=int(continuation_mark))


class InstanceBuilder:
    """Creates instances from documents, drawing from `rng` exactly as the original.

    Instances are collected unpadded in `self.batch` (an `InstanceBatch`); `encode()` serialises
    them; `counts()` tallies instances, tokens, masked positions by replacement kind and random B.

    Args:
      documents: all documents (random B segments come from any of them).
      vocabulary: special ids, replacement ids and `##` flags (`VocabularyIds`).
      config: `PretrainingDataConfig`.
      rng: a `random.Random`.
      original_draws: True: every draw is the original's, in the original's order. False (workers):
        the same distribution with fewer draws: the masking candidates are drawn by a partial
        Fisher-Yates shuffle that stops once enough are chosen (the original shuffles all ~S of them,
        then takes a prefix), and the number of front cuts of a truncated segment is one
        Binomial(cuts, 1/2) draw (the popcount of `getrandbits(cuts)`) instead of one coin a cut.
    """

    def __init__(self, documents: Sequence[Document], vocabulary: "VocabularyIds",
                 config: PretrainingDataConfig, rng: random.Random, original_draws: bool = True):
        self.documents = documents
        self.vocabulary = vocabulary
        self.config = config
        self.rng = rng
        self.original_draws = original_draws
        self.batch = InstanceBatch()
        self._cls_array = array.array(ID_TYPECODE, [vocabulary.cls_id])
        self._sep_array = array.array(ID_TYPECODE, [vocabulary.sep_id])
        self._num_mask_token = 0
        self._num_random = 0
        self._max_num_tokens = config.max_seq_length - 3
        # num_to_predict for every instance length, exactly as the original computes it.
        self._num_to_predict = [
            min(config.max_predictions_per_seq, max(1, int(round(length * config.masked_lm_prob))))
            for length in range(config.max_seq_length + 1)]
        self._marked_words = vocabulary.continuation_mark > 0
        self._mask_by_position = not config.do_whole_word_mask and not vocabulary.text_has_special_ids
        self._whole_words_by_position = config.do_whole_word_mask and not vocabulary.text_has_special_ids
        self._continuation_flags = np.frombuffer(vocabulary.is_continuation, dtype=np.uint8)
        self._id_dtype = np.dtype(f"=i{array.array(ID_TYPECODE).itemsize}")
        if fast_draws_match_library():
            getrandbits = rng.getrandbits
            self._shuffle = lambda items: fast_shuffle(items, getrandbits)
            self._randbelow = lambda bound: fast_randbelow(bound, getrandbits)
        else:  # a Python whose random.Random draws differently: use the library calls
            self._shuffle = rng.shuffle
            self._randbelow = lambda bound: rng.randint(0, bound - 1)

    def __len__(self) -> int:
        return len(self.batch)

    def encode(self) -> List[bytes]:
        """The collected instances as serialised `tf.train.Example` bytes, in creation order."""
        encoder = ExampleEncoder(self.config.max_seq_length, self.config.max_predictions_per_seq)
        return encoder.encode_batch(self.batch)

    def build_document(self, document_index: int) -> int:
        """Adds the instances of one document (original `create_instances_from_document`);
        returns how many."""
        documents = self.documents
        document = documents[document_index]
        num_sentences = len(document)
        random_float = self.rng.random
        randbelow = self._randbelow
        max_num_tokens = self._max_num_tokens
        target_seq_length = max_num_tokens
        if random_float() < self.config.short_seq_prob:
            target_seq_length = 2 + randbelow(max_num_tokens - 1)  # randint(2, max_num_tokens)
        created = 0
        chunk: List[Sentence] = []
        chunk_length = 0
        index = 0
        while index < num_sentences:
            sentence = document[index]
            chunk.append(sentence)
            chunk_length += len(sentence)
            if index == num_sentences - 1 or chunk_length >= target_seq_length:
                a_end = 1
                if len(chunk) >= 2:
                    a_end = 1 + randbelow(len(chunk) - 1)  # randint(1, len(chunk) - 1)
                tokens_a = array.array(ID_TYPECODE)
                for sentence_a in chunk[:a_end]:
                    tokens_a += sentence_a
                tokens_b = array.array(ID_TYPECODE)
                if len(chunk) == 1 or random_float() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):
                        random_document_index = randbelow(len(documents))
                        if random_document_index != document_index:
                            break
                    random_document = documents[random_document_index]
                    for random_index in range(randbelow(len(random_document)), len(random_document)):
                        tokens_b += random_document[random_index]
                        if len(tokens_b) >= target_b_length:
                            break
                    index -= len(chunk) - a_end  # the unused sentences go back
                else:
                    is_random_next = False
                    for sentence_b in chunk[a_end:]:
                        tokens_b += sentence_b
                if len(tokens_a) + len(tokens_b) > max_num_tokens:
                    if self.original_draws:
                        tokens_a, tokens_b = self._truncate_pair(tokens_a, tokens_b, random_float)
                    else:
                        tokens_a, tokens_b = self._truncate_pair_binomial(tokens_a, tokens_b)
                self._add_masked_instance(tokens_a, tokens_b, is_random_next)
                created += 1
                chunk = []
                chunk_length = 0
            index += 1
        return created

    def _truncate_pair(self, tokens_a: Sentence, tokens_b: Sentence, random_float
                       ) -> Tuple[Sentence, Sentence]:
        """Original `truncate_seq_pair`: while too long, drop a token from the longer list (B on a
        tie), from the front when `random() < 0.5`, else from the back."""
        max_num_tokens = self._max_num_tokens
        length_a, length_b = len(tokens_a), len(tokens_b)
        front_a = back_a = front_b = back_b = 0
        while length_a + length_b > max_num_tokens:
            if length_a > length_b:
                if random_float() < 0.5:
                    front_a += 1
                else:
                    back_a += 1
                length_a -= 1
            else:
                if random_float() < 0.5:
                    front_b += 1
                else:
                    back_b += 1
                length_b -= 1
        return (tokens_a[front_a:front_a + length_a], tokens_b[front_b:front_b + length_b])

    def _truncate_pair_binomial(self, tokens_a: Sentence, tokens_b: Sentence) -> Tuple[Sentence, Sentence]:
        """`_truncate_pair` in distribution: which side loses each token depends only on the lengths;
        the number of front cuts of a side is Binomial(cuts, 1/2)."""
        max_num_tokens = self._max_num_tokens
        length_a, length_b = len(tokens_a), len(tokens_b)
        while length_a + length_b > max_num_tokens:
            if length_a > length_b:
                length_a -= 1
            else:
                length_b -= 1
        getrandbits = self.rng.getrandbits
        cuts_a, cuts_b = len(tokens_a) - length_a, len(tokens_b) - length_b
        front_a = getrandbits(cuts_a).bit_count() if cuts_a else 0
        front_b = getrandbits(cuts_b).bit_count() if cuts_b else 0
        return (tokens_a[front_a:front_a + length_a], tokens_b[front_b:front_b + length_b])

    def _masked_order(self, tokens: Sentence, length_a: int, num_to_predict: int) -> List[int]:
        """Positions to mask, in the order the original visits them (original
        `create_masked_lm_predictions` candidate selection)."""
        if self._mask_by_position:
            # Every candidate is one token: all but [CLS] (0) and the two [SEP]s.
            candidates = list(range(1, length_a + 1))
            candidates += range(length_a + 2, len(tokens) - 1)
            if self.original_draws:
                self._shuffle(candidates)
            else:  # a uniformly random ordered prefix: partial Fisher-Yates from the front
                randbelow = self._randbelow
                num_candidates = len(candidates)
                for index in range(min(num_to_predict, num_candidates - 1)):
                    other = index + randbelow(num_candidates - index)
                    candidates[index], candidates[other] = candidates[other], candidates[index]
            return candidates[:num_to_predict]
        if self._whole_words_by_position:
            return self._whole_word_order(tokens, length_a, num_to_predict)
        vocabulary = self.vocabulary
        cls_id, sep_id = vocabulary.cls_id, vocabulary.sep_id
        whole_words = self.config.do_whole_word_mask
        is_continuation = vocabulary.is_continuation
        groups: List[List[int]] = []
        for position, token in enumerate(tokens):
            if token == cls_id or token == sep_id:
                continue
            # As the original: a "##" piece joins the previous candidate, even across the middle [SEP].
            if whole_words and groups and is_continuation[token]:
                groups[-1].append(position)
            else:
                groups.append([position])
        order: List[int] = []
        if self.original_draws:
            self._shuffle(groups)
            for group in _until(groups, lambda: len(order) >= num_to_predict):
                if len(order) + len(group) > num_to_predict:
                    continue  # a whole word that does not fit is skipped
                order += group  # groups are disjoint: never already covered
            return order
        # The same walk over a random order of the groups, shuffling only as far as it goes.
        for group in _random_order_until(groups, self._randbelow, lambda: len(order) >= num_to_predict):
            if len(order) + len(group) <= num_to_predict:
                order += group
        return order

    def _whole_word_order(self, tokens: Sentence, length_a: int, num_to_predict: int) -> List[int]:
        """`_masked_order` with whole-word masking when [CLS]/[SEP] occur only at their three
        positions: the same groups and draws, with the group starts found by numpy."""
        num_tokens = len(tokens)
        separator = length_a + 1
        # A group starts at every token that is not a "##" piece, and at position 1 in any case; a
        # "##" piece starting B joins A's last word (the middle [SEP] is skipped), as in the original.
        is_start = self._continuation_flags[np.frombuffer(tokens, dtype=self._id_dtype)] == 0
        is_start[1] = True
        is_start[0] = is_start[separator] = is_start[num_tokens - 1] = False
        starts = np.flatnonzero(is_start).tolist()
        starts.append(num_tokens - 1)  # the end of the last group
        groups = list(range(len(starts) - 1))

        def positions(group: int) -> List[int]:
            start, end = starts[group], starts[group + 1]
            if start < separator < end:
                return list(range(start, separator)) + list(range(separator + 1, end))
            return list(range(start, end))

        order: List[int] = []
        if self.original_draws:
            self._shuffle(groups)
            for group in _until(groups, lambda: len(order) >= num_to_predict):
                start, end = starts[group], starts[group + 1]
                if end - start == 1:  # most words are one piece
                    if len(order) < num_to_predict:
                        order.append(start)
                elif len(order) + end - start - (start < separator < end) <= num_to_predict:
                    order += positions(group)
            return order
        for group in _random_order_until(groups, self._randbelow, lambda: len(order) >= num_to_predict):
            start, end = starts[group], starts[group + 1]
            if end - start == 1:
                order.append(start)
            elif len(order) + end - start - (start < separator < end) <= num_to_predict:
                order += positions(group)
        return order

    def _add_masked_instance(self, tokens_a: Sentence, tokens_b: Sentence, is_random_next: bool) -> None:
        """Packs `[CLS] A [SEP] B [SEP]`, masks it (original `create_masked_lm_predictions`) and
        adds it to the batch."""
        vocabulary = self.vocabulary
        tokens = self._cls_array + tokens_a
        tokens += self._sep_array
        tokens += tokens_b
        tokens += self._sep_array
        num_tokens = len(tokens)
        length_a = len(tokens_a)
        if self._marked_words:
            self._add_word_masked_instance(tokens, length_a, is_random_next)
            return
        order = self._masked_order(tokens, length_a, self._num_to_predict[num_tokens])
        positions = sorted(order)
        batch = self.batch
        batch.masked_lm_ids.extend([tokens[position] for position in positions])
        batch.masked_lm_positions.extend(positions)
        random_float = self.rng.random
        mask_id = vocabulary.mask_id
        replacement_ids = vocabulary.replacement_ids
        num_replacements = len(replacement_ids)
        randbelow = self._randbelow
        num_mask_token = num_random = 0
        for position in order:
            if random_float() < 0.8:
                tokens[position] = mask_id
                num_mask_token += 1
            elif random_float() >= 0.5:  # (< 0.5 keeps the original token)
                tokens[position] = replacement_ids[randbelow(num_replacements)]
                num_random += 1
        batch.token_ids.extend(tokens)
        batch.num_tokens.append(num_tokens)
        batch.num_segment_a_tokens.append(length_a)
        batch.num_predictions.append(len(order))
        batch.next_sentence_labels.append(is_random_next)
        self._num_mask_token += num_mask_token
        self._num_random += num_random

    def _candidate_words(self, ids: np.ndarray, length_a: int) -> List[Tuple[int, int]]:
        """The maskable words of `[CLS] A [SEP] B [SEP]` (`ids`: [num_tokens] int32 with continuation
        marks) as [start, end) position ranges, in order.

        A word starts at every token that is not a continuation (`##` piece or marked Chinese
        character), at the first token of A and of B, and after any [CLS]/[SEP]; [CLS]/[SEP] are never
        candidates. Unlike the original's `##` rule, no word runs across the middle [SEP].
        """
        num_tokens = len(ids)
        vocabulary = self.vocabulary
        is_special = (ids == vocabulary.cls_id) | (ids == vocabulary.sep_id)
        is_start = self._continuation_flags[ids] == 0
        is_start[[0, 1, length_a + 1, length_a + 2, num_tokens - 1]] = True
        is_start[1:] |= is_special[:-1]
        bounds = np.flatnonzero(is_start).tolist()
        bounds.append(num_tokens)
        return [(start, end) for start, end in zip(bounds, bounds[1:]) if not is_special[start]]

    def _chosen_words(self, words: List[Tuple[int, int]], num_to_predict: int) -> List[Tuple[int, int]]:
        """Words to mask, visited in random order: a word is taken when all its tokens still fit in
        `num_to_predict`, until that many tokens are taken (the original's whole-word walk)."""
        order = list(range(len(words)))
        if self.original_draws:
            self._shuffle(order)
        randbelow = self._randbelow
        num_words = len(order)
        chosen: List[Tuple[int, int]] = []
        taken = 0
        for index in range(num_words):
            if taken >= num_to_predict:
                break
            if not self.original_draws:  # partial Fisher-Yates: shuffle only as far as the walk goes
                other = index + randbelow(num_words - index)
                order[index], order[other] = order[other], order[index]
            start, end = words[order[index]]
            if taken + end - start <= num_to_predict:
                chosen.append((start, end))
                taken += end - start
        return chosen

    def _add_word_masked_instance(self, tokens: Sentence, length_a: int, is_random_next: bool) -> None:
        """`_add_masked_instance` for corpora with marked Chinese words: whole words are chosen
        (`_chosen_words`), and each chosen word is, as a whole, replaced by [MASK] (80%), kept (10%) or
        replaced token by token with random ids (10%). The marks are removed from the written ids."""
        vocabulary = self.vocabulary
        marked_ids = np.frombuffer(tokens, dtype=self._id_dtype)
        num_tokens = len(marked_ids)
        words = self._chosen_words(self._candidate_words(marked_ids, length_a), self._num_to_predict[num_tokens])
        ids = marked_ids % vocabulary.continuation_mark  # a new array: the ids without marks
        positions = sorted(position for start, end in words for position in range(start, end))
        batch = self.batch
        batch.masked_lm_ids.extend(ids[positions].tolist())
        batch.masked_lm_positions.extend(positions)
        random_float = self.rng.random
        randbelow = self._randbelow
        replacement_ids = vocabulary.replacement_ids
        num_replacements = len(replacement_ids)
        num_mask_token = num_random = 0
        for start, end in words:
            if random_float() < 0.8:
                ids[start:end] = vocabulary.mask_id
                num_mask_token += end - start
            elif random_float() >= 0.5:  # (< 0.5 keeps the word)
                for position in range(start, end):
                    ids[position] = replacement_ids[randbelow(num_replacements)]
                num_random += end - start
        batch.token_ids.frombytes(ids.tobytes())
        batch.num_tokens.append(num_tokens)
        batch.num_segment_a_tokens.append(length_a)
        batch.num_predictions.append(len(positions))
        batch.next_sentence_labels.append(is_random_next)
        self._num_mask_token += num_mask_token
        self._num_random += num_random

    def counts(self) -> "BuildCounts":
        """Tallies of the instances built so far."""
        batch = self.batch
        masked = len(batch.masked_lm_positions)
        return BuildCounts(instances=len(batch), tokens=len(batch.token_ids), masked_positions=masked,
                            random_next=sum(batch.next_sentence_labels),
                            masked_with_mask_token=self._num_mask_token,
                            masked_kept=masked - self._num_mask_token - self._num_random,
                            masked_random=self._num_random)


def _until(items: List, is_full) -> Iterator:
    """Yields `items` in order while `is_full()` is false (checked before each one)."""
    for item in items:
        if is_full():
            return
        yield item


def _random_order_until(groups: List, randbelow, is_full) -> Iterator:
    """Yields `groups` in a uniformly random order (a partial Fisher-Yates shuffle from the front), drawing
    the next one only while `is_full()` is false: the same draws as shuffling only as far as it goes."""
    num_groups = len(groups)
    for index in range(num_groups):
        if is_full():
            return
        other = index + randbelow(num_groups - index)
        groups[index], groups[other] = groups[other], groups[index]
        yield groups[index]
