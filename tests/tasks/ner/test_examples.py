"""Tests for bert_tf.tasks.ner.examples: CoNLL reading, IOB1 -> IOB2, the label list and the label map, bad input
named by file and line."""
import json

import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.ner import examples

CONLL_TEXT = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
"""


def test_iob1_is_read_as_iob2_and_docstarts_are_kept():
    parsed = examples.parse_conll("x.txt", CONLL_TEXT)
    assert [sentence.words for sentence in parsed.sentences] == [
        ["EU", "rejects", "German", "call"], ["Peter", "Blackburn", "Smith"], ["BRUSSELS"]]
    assert parsed.sentences[1].tags == ["I-PER", "I-PER", "B-PER"]
    assert [sentence.labels for sentence in parsed.sentences] == [
        ["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER", "B-PER"], ["B-LOC"]]
    assert parsed.docstarts == [0, 2] and parsed.tagged
    assert parsed.sentences[1].line_numbers == [8, 9, 10]
    assert examples.label_list_from_training(parsed) == [
        "O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.mark.parametrize("tags, expected", [
    (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),         # IOB1: adjacent entities of one type
    (["I-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"]),         # a change of type starts an entity
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # IOB2 unchanged
    (["O", "I-MISC"], ["O", "B-MISC"]),                                  # ill-formed IOB2 read as conlleval reads it
])
def test_iob1_to_iob2(tags, expected):
    assert examples.iob1_to_iob2(tags) == expected
    assert examples.iob1_to_iob2(expected) == expected


def test_the_shared_conll2003_files_parse(data_dir):
    parsed = examples.read_conll_file(str(data_dir / "conll2003" / "valid.txt"))
    assert len(parsed.sentences) == 3250 and parsed.num_words == 51362 and len(parsed.docstarts) == 216
    assert parsed.entity_types() == ["LOC", "MISC", "ORG", "PER"]


def test_words_only_file_is_untagged_and_mixed_columns_are_an_error():
    parsed = examples.parse_conll("p.txt", "Hello\nworld\n\nAgain\n", require_tags=False)
    assert not parsed.tagged and parsed.sentences[0].labels is None
    with pytest.raises(InputError, match=r"p\.txt:2: 2 columns"):
        examples.parse_conll("p.txt", "Hello\nworld O\n", require_tags=False)


@pytest.mark.parametrize("text, message", [
    ("EU B-ORG\nrejects\n", r"t\.txt:2: no tag column in 'rejects'"),
    ("-DOCSTART- -X- -X- O\n\n", r"t\.txt:1: the file has only -DOCSTART- lines"),
    ("", r"t\.txt:1: the file is empty"),
    ("\n\n  \n", r"t\.txt:1: the file is empty"),
    ("EU X-ORG\n", r"t\.txt:1: tag 'X-ORG' is not IOB1/IOB2"),
])
def test_malformed_text_names_file_and_line(text, message):
    with pytest.raises(InputError, match=message):
        examples.parse_conll("t.txt", text)


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"EU B-ORG\n\nCaf\xe9 O\n")
    with pytest.raises(InputError, match=r"bad\.txt:3: not UTF-8"):
        examples.read_conll_file(str(path))
    with pytest.raises(InputError, match=r"missing\.txt: no such file"):
        examples.read_conll_file(str(tmp_path / "missing.txt"))


def test_unknown_entity_type_in_dev_names_the_line():
    train = examples.parse_conll("train.txt", "EU B-ORG\nsays O\n")
    dev = examples.parse_conll("dev.txt", "Paris B-ORG\n\nParis I-LOC\n")
    with pytest.raises(InputError, match=r"dev\.txt:3: tag 'I-LOC' has entity type 'LOC'.*types: ORG"):
        examples.check_labels(dev, examples.label_list_from_training(train))


def test_label_map_round_trip(tmp_path):
    labels = examples.labels_for_types(["PER", "LOC"])
    path = examples.write_label_map(str(tmp_path), labels)
    assert json.loads((tmp_path / "label_map.json").read_text()) == {
        "O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}
    assert examples.read_label_map(path) == labels
    (tmp_path / "label_map.json").write_text('{"O": 0, "B-PER": 2}')
    with pytest.raises(InputError, match="label ids must be"):
        examples.read_label_map(path)
