"""bert_tf.tasks.multiple_choice.examples: SWAG's CSV and JSON lines -> questions, and every bad input as one
line naming the file and line."""
import json

import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.multiple_choice import examples

SWAG_HEADER = ",video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,ending1,ending2,ending3,label\n"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def swag_row(index=0, label="1", sent1="A man sits down.", sent2="He", endings=("eats.", "sleeps.", "runs.", "sings.")):
    return f'{index},v{index},1,"{sent1} {sent2}","{sent1}",{sent2},gold,{",".join(endings)},{label}\n'


def test_swag_csv_pairs_are_sent1_and_sent2_plus_ending(refs_dir):
    questions = examples.read_split(str(refs_dir / "multiple_choice" / "val.csv"), "dev", require_labels=True)
    assert len(questions) == 40 and all(len(question.choices) == 4 for question in questions)
    first = questions[0]
    assert first.context == ("The suspect has been charged with juvenile delinquency, based on intentionally "
                             "causing damage to computers.")
    assert first.choices[1] == ("A news release from the office said the arrest was for an act of juvenile "
                                "delinquency based on intentionally causing damage to protected computers.")
    assert first.label == 1 and first.guid == "dev-2"
    test = examples.read_split(str(refs_dir / "multiple_choice" / "test.csv"), "test", require_labels=False)
    assert len(test) == 30 and all(question.label is None for question in test)


def test_json_lines_generic_and_swag_keys(tmp_path, data_dir):
    path = write(tmp_path / "dev.jsonl", json.dumps({"context": "Where?", "choices": ["here", "there", "nowhere"],
                                                     "label": 2}) + "\n\n" +
                 json.dumps({"context": "Which?", "choices": ["a", "b"], "label": 0}) + "\n")
    questions = examples.read_split(path, "dev", require_labels=True)
    assert [(question.guid, question.choices, question.label) for question in questions] == [
        ("dev-1", ["here", "there", "nowhere"], 2), ("dev-3", ["a", "b"], 0)]
    swag = examples.read_split(str(data_dir / "multiple_choice" / "swag" / "sample.json"), "train", True)
    assert len(swag) == 10 and [question.label for question in swag] == [0, 3, 1, 3, 0, 3, 0, 1, 3, 3]
    assert swag[0].context.startswith("Members of the procession")
    assert swag[0].choices[0] == "A drum line passes by walking down the street playing their instruments."


def test_split_files_are_found_and_ambiguity_refused(tmp_path):
    write(tmp_path / "train.csv", SWAG_HEADER + swag_row())
    write(tmp_path / "dev.jsonl", "")
    assert examples.find_split_file(str(tmp_path), "train").endswith("train.csv")
    assert examples.find_split_file(str(tmp_path), "dev").endswith("dev.jsonl")
    with pytest.raises(InputError, match="no test.csv or test.jsonl"):
        examples.find_split_file(str(tmp_path), "test")
    write(tmp_path / "val.csv", SWAG_HEADER)
    with pytest.raises(InputError, match="holds val.csv and dev.jsonl"):
        examples.find_split_file(str(tmp_path), "dev")


@pytest.mark.parametrize("name, text, message", [
    ("train.csv", SWAG_HEADER + swag_row() + "1,v,1,x,y\n", "train.csv:3: 5 columns where the header has 12"),
    ("train.csv", "sent1,ending0,ending1,label\na,b,c,0\n", "train.csv:1: the header has no sent2 column"),
    ("train.csv", ",sent1,sent2,label\n0,a,b,0\n", "the header has no ending0, ending1, ... column"),
    ("train.csv", SWAG_HEADER + swag_row(label="4"), "train.csv:2: label 4 is outside the question's 4 choices"),
    ("train.csv", SWAG_HEADER + swag_row(label="x"), "train.csv:2: label 'x' is not a choice index"),
    ("train.csv", SWAG_HEADER + swag_row(label=""), "train.csv:2: label '' is not a choice index"),
    ("train.csv", SWAG_HEADER + swag_row(sent1=" "), "train.csv:2: the context is empty"),
    ("train.csv", SWAG_HEADER + swag_row(endings=("a", "", "c", "d")), "train.csv:2: choice 1 is empty"),
    ("train.csv", "", "train.csv: the file is empty"),
    ("train.jsonl", '{"context": "c", "choices": ["only one"], "label": 0}\n', "train.jsonl:1: 1 choice(s)"),
    ("train.jsonl", '{"context": "c", "choices": [], "label": 0}\n', "train.jsonl:1: 0 choice(s)"),
    ("train.jsonl", '{"context": "c", "choices": ["a", "b"]}\n', "train.jsonl:1: no label"),
    ("train.jsonl", '{"context": "c", "choices": ["a", "b"], "label": true}\n', "label True is not a choice index"),
    ("train.jsonl", '{"context": "c", "choices": "a b", "label": 0}\n', "train.jsonl:1: \"choices\" must be a list"),
    ("train.jsonl", '{"context": "c", "choices": ["a", 3], "label": 0}\n', "train.jsonl:1: choice 1 is not a string"),
    ("train.jsonl", '{"context": 5, "choices": ["a", "b"], "label": 0}\n', "train.jsonl:1: the context is not a string"),
    ("train.jsonl", '{"question": "c"}\n', "train.jsonl:1: expected the keys \"context\" and \"choices\""),
    ("train.jsonl", '{"context": "c",\n', "train.jsonl:1: not valid JSON"),
    ("train.jsonl", '[1, 2]\n', "train.jsonl:1: expected a JSON object"),
    ("train.jsonl", "\n\n", "train.jsonl: no questions"),
])
def test_bad_input_names_file_and_line(tmp_path, name, text, message):
    with pytest.raises(InputError) as error:
        examples.read_split(write(tmp_path / name, text), "train", require_labels=True)
    assert message in str(error.value) and len(str(error.value).splitlines()) == 1


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"context": "a", "choices": ["b", "c"], "label": 0}\n{"context": "caf\xe9"}\n')
    with pytest.raises(InputError, match="train.jsonl:2: not UTF-8"):
        examples.read_split(str(path), "train", require_labels=True)


def test_a_test_file_needs_no_labels_and_questions_may_differ_in_choices(tmp_path):
    path = write(tmp_path / "test.jsonl", json.dumps({"context": "a", "choices": ["b", "c", "d"]}) + "\n"
                 + json.dumps({"context": "e", "choices": ["f", "g"], "label": 1}) + "\n")
    questions = examples.read_split(path, "test", require_labels=False)
    assert [len(question.choices) for question in questions] == [3, 2] and questions[0].label is None
