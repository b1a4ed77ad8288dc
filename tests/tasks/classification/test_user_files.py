"""bert_tf.tasks.classification.user_files: your own CSV, TSV and JSON-lines files, and every bad input as
one line naming the file, line and column."""
import json

import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.classification import user_files
from bert_tf.tasks.classification.user_files import ColumnSpec, LabelKind, UserFilesProcessor


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_columns_by_name_with_quoting_and_a_bom(tmp_path):
    path = write(tmp_path / "train.csv", '\ufeffid,sentence,extra,label\n1,"Hello, ""world""",x,pos\n2,Bad,y,neg\n')
    examples = user_files.read_examples(path, "csv", ColumnSpec("sentence", None, "label"), LabelKind(), "train", True)
    assert [(example.guid, example.text_a, example.text_b, example.label) for example in examples] == [
        ("train-2", 'Hello, "world"', None, "pos"), ("train-3", "Bad", None, "neg")]
    assert user_files.label_list_from(examples, LabelKind()) == ["neg", "pos"]


def test_tsv_by_index_without_a_header_and_regression(tmp_path):
    path = write(tmp_path / "train.tsv", "a b\tc\t1.5\nd\t\t2\n")
    examples = user_files.read_examples(path, "tsv", ColumnSpec(0, 1, 2), LabelKind(regression=True), "train", True)
    assert [(example.text_a, example.text_b, example.label) for example in examples] == [
        ("a b", "c", 1.5), ("d", None, 2.0)]  # an empty text_b: a single sentence


def test_tsv_quotes_csv_escaped_or_not(tmp_path, caplog):
    # GoEmotions-style: CSV-quoted fields with doubled quotes (and a tab inside a quoted field).
    quoted = write(tmp_path / "quoted.tsv", 'label\ttext_a\n1\t"He said ""hi""\tthere"\n0\tplain\n')
    assert [row for _, row in user_files.table_rows(quoted, open(quoted).read(), "\t")] == [
        ["label", "text_a"], ["1", 'He said "hi"\tthere'], ["0", "plain"]]
    # ChnSentiCorp/GLUE-style: quotes that are not CSV-escaped; a CSV parser would merge lines 2-3 and 4-5.
    raw = 'label\ttext_a\n1\t"good" they said\n0\t"unclosed quote\n1\tnext line\n0\tlast "one\n'
    path = write(tmp_path / "train.tsv", raw)
    spec = ColumnSpec("text_a", None, "label")
    examples = user_files.read_examples(path, "tsv", spec, LabelKind(), "train", True)
    assert [example.text_a for example in examples] == ['"good" they said', '"unclosed quote', "next line",
                                                          'last "one']
    assert "train.tsv:2: quotes that are not CSV-escaped" in caplog.text
    none = user_files.read_examples(path, "tsv", ColumnSpec("text_a", None, "label", quoting="none"), LabelKind(),
                                    "train", True)
    assert [example.text_a for example in none] == [example.text_a for example in examples]
    # Only the multi-line quoted field (no strict-reader error): still one record per line.
    path = write(tmp_path / "dev.tsv", 'label\ttext_a\n0\t"unclosed\n1\tb"\n')
    assert [example.text_a for example in user_files.read_examples(path, "tsv", spec, LabelKind(), "dev", True)] == [
        '"unclosed', 'b"']
    forced = ColumnSpec("text_a", None, "label", quoting="csv")
    assert [example.text_a for example in user_files.read_examples(path, "tsv", forced, LabelKind(), "dev", True)] == [
        "unclosed\n1\tb"]
    path = write(tmp_path / "test.tsv", 'label\ttext_a\n0\t"good" they said\n')
    with pytest.raises(InputError, match=r"test.tsv:2: quotes that are not CSV-escaped .* \(--quoting=none reads"):
        user_files.read_examples(path, "tsv", forced, LabelKind(), "test", True)
    # A CSV may hold a quoted field over several lines.
    path = write(tmp_path / "multi.csv", 'text,label\n"line one\nline two",pos\nx,neg\n')
    examples = user_files.read_examples(path, "csv", ColumnSpec("text", None, "label"), LabelKind(), "train", True)
    assert [(example.guid, example.text_a) for example in examples] == [("train-2", "line one\nline two"),
                                                                         ("train-4", "x")]


def test_header_detection_and_declaration(tmp_path):
    path = write(tmp_path / "train.csv", "text,label\nhello there,1\nbye now,0\n")
    assert len(user_files.read_examples(path, "csv", ColumnSpec(0, None, 1), LabelKind(), "train", True)) == 2
    declared = user_files.read_examples(path, "csv", ColumnSpec(0, None, 1, header=False), LabelKind(), "train", True)
    assert [example.text_a for example in declared] == ["text", "hello there", "bye now"]


def test_multi_label_rows_in_tsv_and_jsonl(tmp_path):
    kind = LabelKind(multi_label=True, delimiter="|")
    path = write(tmp_path / "train.tsv", "first\tb|a\nsecond\tc\nthird\t\n")
    examples = user_files.read_examples(path, "tsv", ColumnSpec(0, None, 1, header=False), kind, "train", True)
    assert [example.label for example in examples] == [("a", "b"), ("c",), ()]  # an empty cell: no label applies
    path = write(tmp_path / "train.jsonl", json.dumps({"t": "x", "l": ["z", "y"]}) + "\n" + json.dumps(
        {"t": "w", "l": "y|x"}) + "\n" + json.dumps({"t": "v", "l": []}) + "\n")
    examples = user_files.read_examples(path, "jsonl", ColumnSpec("t", None, "l"), kind, "train", True)
    assert [example.label for example in examples] == [("y", "z"), ("x", "y"), ()]
    assert user_files.label_list_from(examples, kind) == ["x", "y", "z"]


@pytest.mark.parametrize("name, spec, kind, text, message", [
    ("a.csv", ColumnSpec("sentense", None, "label"), LabelKind(), "sentence,label\nx,1\n",
     "a.csv:1: no column 'sentense' (--text_a_column); the header has sentence, label"),
    ("a.csv", ColumnSpec("sentence", None, "label"), LabelKind(), "sentence,label\nx,1\ny\n",
     "a.csv:3: 1 column(s) where the header has 2"),
    ("a.csv", ColumnSpec("sentence", None, "label"), LabelKind(regression=True), "sentence,label\nx,abc\n",
     "a.csv:2 (column 1): regression label 'abc' is not a number"),
    ("a.csv", ColumnSpec("sentence", None, "label"), LabelKind(regression=True), "sentence,label\nx,nan\n",
     "regression label 'nan' is not finite"),
    ("a.csv", ColumnSpec("sentence", None, "label"), LabelKind(), "sentence,label\nx,\n", "a.csv:2: no label"),
    ("a.csv", ColumnSpec("sentence", None, "label"), LabelKind(), "sentence,label\n ,1\n", "a.csv:2: the text"),
    ("a.csv", ColumnSpec("sentence", None, "label"), LabelKind(), "", "a.csv: the file is empty"),
    ("a.csv", ColumnSpec(0, None, 5), LabelKind(), "x,1\n", "--label_column=5 is outside the 2 columns"),
    ("a.csv", ColumnSpec(0, None, "label", header=False), LabelKind(), "x,1\n", "names a column but the file has no"),
    ("a.jsonl", ColumnSpec("text", None, "label"), LabelKind(), '{"txt": "x", "label": 1}\n',
     "a.jsonl:1: no key 'text' (--text_a_column); the object has label, txt"),
    ("a.jsonl", ColumnSpec("text", None, "label"), LabelKind(), '{"text": "x",\n', "a.jsonl:1: not valid JSON"),
    ("a.jsonl", ColumnSpec("text", None, "label"), LabelKind(), '{"text": "x", "label": ["a", "b"]}\n',
     "is not one value (--multi_label for several)"),
    ("a.jsonl", ColumnSpec("t", None, "l"), LabelKind(multi_label=True), '{"t": "x", "l": [["a"]]}\n',
     "a.jsonl:1 (column 'l'): labels [['a']] are not a list of names"),
    ("a.jsonl", ColumnSpec("t", None, "l"), LabelKind(multi_label=True), '{"t": "x", "l": null}\n',
     "a.jsonl:1: no label (column 'l')"),
])
def test_bad_input_names_file_line_and_column(tmp_path, name, spec, kind, text, message):
    with pytest.raises(InputError) as error:
        user_files.read_examples(write(tmp_path / name, text), name.split(".")[1], spec, kind, "train", True)
    assert message in str(error.value) and len(str(error.value).splitlines()) == 1


def test_processor_finds_split_files_and_checks_labels(tmp_path):
    write(tmp_path / "train.csv", "text,label\nx,a\ny,b\n")
    write(tmp_path / "valid.csv", "text,label\nz,c\n")
    write(tmp_path / "test.csv", "text\nw\n")
    processor = UserFilesProcessor("csv", ColumnSpec("text", None, "label"), LabelKind())
    processor.set_labels(user_files.label_list_from(processor.get_train_examples(str(tmp_path)), LabelKind()))
    assert processor.get_labels() == ["a", "b"] and processor.metric_names == ("eval_accuracy", "eval_f1")
    with pytest.raises(InputError, match=r"valid.csv:2: label 'c' is not in the label list \(a, b\)"):
        processor.get_dev_examples(str(tmp_path))
    assert [example.label for example in processor.get_test_examples(str(tmp_path))] == ["a"]  # placeholder
    with pytest.raises(InputError, match="no dev.tsv or valid.tsv or val.tsv"):
        UserFilesProcessor("tsv", ColumnSpec(), LabelKind()).get_dev_examples(str(tmp_path))
    explicit = UserFilesProcessor("csv", ColumnSpec("text", None, "label"), LabelKind(),
                                  {"train": str(tmp_path / "valid.csv")})
    assert [example.label for example in explicit.get_train_examples(None)] == ["c"]
    with pytest.raises(InputError, match="csv, tsv or jsonl"):
        UserFilesProcessor("xlsx", ColumnSpec(), LabelKind())


def test_label_list_round_trip(tmp_path):
    user_files.write_label_list(str(tmp_path), ["b", "a"])
    assert user_files.read_label_list([None, str(tmp_path / "none"), str(tmp_path)]) == (
        str(tmp_path / "label_list.txt"), ["b", "a"])
    assert user_files.read_label_list([str(tmp_path / "none")]) is None
