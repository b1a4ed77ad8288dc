"""Reading SQuAD json files (1.1 and 2.0) into examples, as the original `read_squad_examples`.

A context is split into words on the original's whitespace set (`" "`, `"\\t"`, `"\\r"`, `"\\n"` and
U+202F), with a character -> word offset table; a training answer's character span becomes a word span.
Training answers whose text cannot be recovered from those words are skipped (counted and logged), as
the original does.

Every file is validated completely when read: a problem (no `data` list, a question without `id`, an
`answer_start` outside its context, an empty context, a file that is not UTF-8 JSON, ...) raises
`bert_tf.errors.InputError` with one line naming the file and the question.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging

from bert_tf.conventions import SQUAD_WHITESPACE
from bert_tf.errors import InputError
from bert_tf.tokenization import whitespace_tokenize


@dataclasses.dataclass
class SquadExample:
    """One question about one context.

    Attributes:
      qas_id: the question's `id`.
      question_text: the question.
      doc_tokens: the context split on whitespace (the original's "words").
      orig_answer_text: the training answer ("" for an impossible question; None when predicting).
      start_position, end_position: the answer's first and last word in `doc_tokens` (-1 for an impossible
        question; None when predicting).
      is_impossible: a SQuAD 2.0 question without an answer (training only).
    """

    qas_id: str
    question_text: str
    doc_tokens: List[str]
    orig_answer_text: Optional[str] = None
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


@dataclasses.dataclass
class SquadFile:
    """A validated SQuAD json file.

    Attributes:
      path: where it was read from.
      version: its `version` field ("" when absent).
      articles: its `data` list, as parsed (every question has a unique string `id`).
    """

    path: str
    version: str
    articles: List[dict]

    def questions(self):
        """Yields `(context, qa)` for every question, in file order."""
        for article in self.articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    yield paragraph["context"], qa

    def has_answers(self) -> bool:
        """Whether the file can be scored: every question has an `answers` list and some are non-empty."""
        qas = [qa for _, qa in self.questions()]
        return bool(qas) and all("answers" in qa for qa in qas) and any(qa["answers"] for qa in qas)


def split_context(text: str) -> Tuple[List[str], List[int]]:
    """Splits a context into words and maps every character to its word.

    Args:
      text: the paragraph's `context`.

    Returns:
      `(doc_tokens, char_to_word_offset)`: the words, and for each character of `text` the index of the
      word it belongs to (a whitespace character maps to the word before it, -1 before the first word).
    """
    doc_tokens: List[str] = []
    char_to_word_offset: List[int] = []
    previous_is_whitespace = True
    for char in text:
        if char in SQUAD_WHITESPACE:
            previous_is_whitespace = True
        else:
            if previous_is_whitespace:
                doc_tokens.append(char)
            else:
                doc_tokens[-1] += char
            previous_is_whitespace = False
        char_to_word_offset.append(len(doc_tokens) - 1)
    return doc_tokens, char_to_word_offset


# ------------------------------------------------------------------------------------------------ validation
def _load_json(path: str, flag: str):
    from bert_tf import files

    gfile = files.tf_gfile()
    if not gfile.exists(path):
        raise InputError(f"--{flag} not found: {path}")
    with gfile.GFile(path, "rb") as reader:
        raw = reader.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None


def _where(path: str, article_index: int, paragraph_index: int, qa_index: Optional[int] = None,
           qas_id: Optional[str] = None) -> str:
    where = f"{path}: article {article_index}, paragraph {paragraph_index}"
    if qas_id is not None:
        return f"{where}, question {qas_id!r}"
    if qa_index is not None:
        return f"{where}, question {qa_index}"
    return where


def _check_answers(qa: dict, context: str, where: str) -> None:
    answers = qa["answers"]
    if not isinstance(answers, list):
        raise InputError(f"{where}: 'answers' is not a list")
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise InputError(f"{where}: an answer has no 'text' string")
        start = answer.get("answer_start")
        if isinstance(start, bool) or not isinstance(start, int):
            raise InputError(f"{where}: answer {answer['text']!r} has no integer 'answer_start'")
        if start < 0 or start + len(answer["text"]) > len(context) or (not answer["text"] and start >= len(context)):
            raise InputError(f"{where}: answer_start {start} of answer {answer['text']!r} is outside the "
                             f"context ({len(context)} characters)")


def read_squad_file(path: str, flag: str = "predict_file") -> SquadFile:
    """Reads and validates a SQuAD json file.

    Args:
      path: the file (any `tf.io.gfile` path).
      flag: the flag that named it, for the messages (`train_file`, `predict_file`).

    Returns:
      A `SquadFile`.

    Raises:
      InputError: one line naming the file and the article, paragraph or question at fault.
    """
    data = _load_json(path, flag)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(f"{path}: no 'data' list at the top level: not a SQuAD json file")
    seen_ids: Dict[str, str] = {}
    for article_index, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise InputError(f"{path}: article {article_index} has no 'paragraphs' list")
        for paragraph_index, paragraph in enumerate(article["paragraphs"]):
            where = _where(path, article_index, paragraph_index)
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f"{where}: no 'qas' list")
            context = paragraph.get("context")
            for qa_index, qa in enumerate(paragraph["qas"]):
                qas_id = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qas_id, str) or not qas_id:
                    raise InputError(f"{_where(path, article_index, paragraph_index, qa_index)}: the question has "
                                     "no 'id' string")
                where = _where(path, article_index, paragraph_index, qas_id=qas_id)
                if qas_id in seen_ids:
                    raise InputError(f"{where}: the id is used twice (also at {seen_ids[qas_id]})")
                seen_ids[qas_id] = f"article {article_index}, paragraph {paragraph_index}"
                if not isinstance(context, str) or not any(char not in SQUAD_WHITESPACE for char in context):
                    raise InputError(f"{where}: the context is empty")
                if not isinstance(qa.get("question"), str):
                    raise InputError(f"{where}: no 'question' string")
                if "is_impossible" in qa and not isinstance(qa["is_impossible"], bool):
                    raise InputError(f"{where}: 'is_impossible' is not true or false")
                if "answers" in qa:
                    _check_answers(qa, context, where)
    return SquadFile(path=path, version=str(data.get("version", "")), articles=data["data"])


# ------------------------------------------------------------------------------------------------ examples
@dataclasses.dataclass
class ReadStats:
    """What `squad_examples` left out.

    Attributes:
      num_questions: questions in the file.
      num_skipped: training questions whose answer text is not in the context's words (skipped).
      num_empty_questions: questions whose text is empty or whitespace (kept: a data problem, warned about).
      num_impossible_with_answers: `is_impossible` training questions that also list answers (the answers
        are ignored; warned about).
      num_impossible: `is_impossible` questions (without `version_2_with_negative`: a hint to pass it).
    """

    num_questions: int = 0
    num_skipped: int = 0
    num_empty_questions: int = 0
    num_impossible_with_answers: int = 0
    num_impossible: int = 0


def squad_examples(squad_file: SquadFile, is_training: bool, version_2_with_negative: bool = False,
                   verbose_logging: bool = False) -> Tuple[List[SquadExample], ReadStats]:
    """The original `read_squad_examples` on a validated file.

    Args:
      squad_file: from `read_squad_file`.
      is_training: read the answer spans (each question needs exactly one answer, or `is_impossible`
        with `version_2_with_negative`).
      version_2_with_negative: SQuAD 2.0 (training questions may be `is_impossible`).
      verbose_logging: log every skipped training question (else only their count).

    Returns:
      `(examples, stats)`: one `SquadExample` per question kept, in file order.

    Raises:
      InputError: a training question without exactly one answer (naming the file and the question).
    """
    examples: List[SquadExample] = []
    stats = ReadStats()
    for article in squad_file.articles:
        for paragraph in article["paragraphs"]:
            doc_tokens, char_to_word_offset = split_context(paragraph["context"])
            for qa in paragraph["qas"]:
                stats.num_questions += 1
                example = SquadExample(qas_id=qa["id"], question_text=qa["question"], doc_tokens=doc_tokens)
                stats.num_empty_questions += not qa["question"].strip()
                stats.num_impossible += bool(qa.get("is_impossible"))
                if is_training:
                    stats.num_impossible_with_answers += bool(
                        version_2_with_negative and qa.get("is_impossible") and qa.get("answers"))
                    if not _set_training_answer(example, qa, char_to_word_offset, squad_file.path,
                                                version_2_with_negative):
                        stats.num_skipped += 1
                        if verbose_logging or stats.num_skipped <= 5:
                            logging.warning("%s: question %r: could not find the answer %r in the context's "
                                            "words; skipped", squad_file.path, qa["id"], example.orig_answer_text)
                        continue
                examples.append(example)
    if stats.num_skipped:
        logging.warning("Skipped %d of %d training questions of %s whose answer could not be recovered from the "
                        "context", stats.num_skipped, stats.num_questions, squad_file.path)
    if stats.num_impossible and not version_2_with_negative:
        logging.warning("%d questions of %s are is_impossible (SQuAD 2.0): without --version_2_with_negative each "
                        "gets an answer", stats.num_impossible, squad_file.path)
    if stats.num_empty_questions:
        logging.warning("%d of %d questions of %s are empty (kept: the model sees only the context)",
                        stats.num_empty_questions, stats.num_questions, squad_file.path)
    if stats.num_impossible_with_answers:
        logging.warning("%d training questions of %s are is_impossible and also list answers (trained as "
                        "impossible; their answers are ignored)", stats.num_impossible_with_answers, squad_file.path)
    return examples, stats


def _set_training_answer(example: SquadExample, qa: dict, char_to_word_offset: Sequence[int], path: str,
                         version_2_with_negative: bool) -> bool:
    """Fills the answer fields of a training example; False when its text is not in the context."""
    example.is_impossible = bool(qa.get("is_impossible", False)) if version_2_with_negative else False
    if example.is_impossible:
        example.orig_answer_text, example.start_position, example.end_position = "", -1, -1
        return True
    answers = qa.get("answers") or []
    if qa.get("is_impossible") and not version_2_with_negative:
        raise InputError(f"{path}: question {qa['id']!r} is_impossible: a SQuAD 2.0 file trains with "
                         "--version_2_with_negative")
    if len(answers) != 1:
        raise InputError(f"{path}: question {qa['id']!r}: for training, each question should have exactly 1 "
                         f"answer (it has {len(answers)}; a dev file lists several: keep the first of each)")
    answer = answers[0]
    text, offset = answer["text"], answer["answer_start"]
    if not text.strip():
        raise InputError(f"{path}: question {qa['id']!r}: the training answer's text is empty (a question without "
                         "an answer is \"is_impossible\": true, with --version_2_with_negative)")
    example.orig_answer_text = text
    example.start_position = char_to_word_offset[offset]
    example.end_position = char_to_word_offset[offset + max(len(text), 1) - 1]
    actual_text = " ".join(example.doc_tokens[example.start_position:example.end_position + 1])
    cleaned_answer_text = " ".join(whitespace_tokenize(text))
    return actual_text.find(cleaned_answer_text) != -1
