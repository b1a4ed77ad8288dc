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
    ("EU X-ORG\n", r"t\.txt:1: tag 'X-ORG' is not O or a tag of a scheme"),
    ("EU B-ORG\nsays E-LOC\n", r"t\.txt:2: tag 'E-LOC' continues no LOC entity \(BIOES"),
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


# ------------------------------------------------------------------------------------------------
# Other formats and schemes (your own data)
# ------------------------------------------------------------------------------------------------
def test_columns_and_schemes_of_conll_files():
    parsed = examples.parse_conll("m.txt", "中 x B-NT\n共 x M-NT\n央 x E-NT\n致 x O\n\n好 x S-NR\n", word_column=0,
                                  tag_column=2)
    assert parsed.scheme == "bmes" and parsed.sentences[0].words == ["中", "共", "央", "致"]
    assert parsed.sentences[0].labels == ["B-NT", "I-NT", "I-NT", "O"] and parsed.sentences[1].labels == ["B-NR"]
    assert parsed.sentences[0].tags == ["B-NT", "M-NT", "E-NT", "O"]
    with pytest.raises(InputError, match=r"m\.txt:2: tag 'I-PER' after 'O' continues no entity \(IOB2"):
        examples.parse_conll("m.txt", "a O\nb I-PER\n", scheme="iob2")
    with pytest.raises(InputError, match=r"m\.txt:1: no tag column 3 \(--tag_column\)"):
        examples.parse_conll("m.txt", "a x O\n", tag_column=3)
    with pytest.raises(InputError, match="mix schemes"):
        examples.parse_conll("m.txt", "a B-X\nb M-X\nc E-X\n\nd I-Y\n")


def test_json_lines_of_tokens_and_tags(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"tokens": ["John", "lives", "in", "New", "York"],
                                "tags": ["S-PER", "O", "O", "B-LOC", "E-LOC"]}) + "\n", encoding="utf-8")
    parsed = examples.read_ner_file(str(path))
    assert (parsed.data_format, parsed.scheme) == ("jsonl", "bioes")
    assert parsed.sentences[0].labels == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    path.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train\.jsonl:1: \"tags\" must list one tag per token \(2\)"):
        examples.read_ner_file(str(path))
    path.write_text(json.dumps({"tokens": ["a"]}) + "\n", encoding="utf-8")
    assert not examples.read_ner_file(str(path), require_tags=False).tagged


def test_json_lines_of_character_spans(tmp_path):
    path = tmp_path / "dev.json"
    record = {"text": "彭小军 在 台湾", "label": {"name": {"彭小军": [[0, 2]]}, "address": {"台湾": [[6, 7]]}}}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    parsed = examples.read_ner_file(str(path))
    sentence = parsed.sentences[0]
    assert parsed.data_format == "spans" and sentence.words == ["彭", "小", "军", "在", "台", "湾"]
    assert sentence.offsets == [0, 1, 2, 4, 6, 7]
    assert sentence.labels == ["B-name", "I-name", "I-name", "O", "B-address", "I-address"]


def test_a_span_inside_another_is_left_out_with_a_warning(tmp_path, caplog):
    # CLUENER's train.json has one: a company inside a book title. Flat tags keep the outer span.
    path = tmp_path / "train.json"
    label = {"x": {"小军": [[1, 2]]}, "name": {"彭小军": [[0, 2]]}}
    path.write_text(json.dumps({"text": "彭小军 在 台湾", "label": label}, ensure_ascii=False) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        parsed = examples.read_ner_file(str(path))
    assert parsed.sentences[0].labels == ["B-name", "I-name", "I-name", "O", "O", "O"]
    assert f"{path}:1: span [1, 2] of '小军' is inside [0, 2] of '彭小军': left out" in caplog.text


@pytest.mark.parametrize("label, message", [
    ({"name": {"彭小军": [[0, 9]]}}, "span [0, 9] of '彭小军' is outside the text (8 characters)"),
    ({"name": {"彭小军": [[0, 1]]}}, "span [0, 1] is '彭小', not '彭小军' (end is inclusive)"),
    ({"name": {"彭小军": [[0, 2]]}, "x": {"军 在": [[2, 4]]}}, "span [2, 4] of '军 在' overlaps another"),
    ({"name": {"彭小军": [0, 2]}}, "span 0 of '彭小军' is not [start, end]"),
])
def test_bad_spans_name_the_line(tmp_path, label, message):
    path = tmp_path / "train.json"
    path.write_text("\n" + json.dumps({"text": "彭小军 在 台湾", "label": label}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as error:
        examples.read_ner_file(str(path))
    assert str(error.value).startswith(f"{path}:2: ") and message in str(error.value)
