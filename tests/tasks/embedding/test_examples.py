"""`bert_tf.tasks.embedding.examples`: the texts of text, JSON-lines and TSV files, and their errors."""
import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.embedding.examples import input_format, read_texts


def test_text_lines_keep_empty_lines_and_drop_the_final_newline(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\n\n  two  \nthree")
    assert read_texts(path) == ["one", "", "  two  ", "three"]
    path.write_text("a\n\n", encoding="utf-8")
    assert read_texts(path) == ["a", ""]
    path.write_text("", encoding="utf-8")
    assert read_texts(path) == []


def test_json_lines_by_field(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "a", "id": 1}\n\n{"text": ""}\n', encoding="utf-8")
    assert read_texts(path) == ["a", ""]
    other = tmp_path / "other.txt"
    other.write_text('{"sentence": "b"}\n', encoding="utf-8")
    assert read_texts(other, text_field="sentence") == ["b"]
    with pytest.raises(InputError, match=r"texts.jsonl:1: no field 'body' \(fields: id, text\)"):
        read_texts(path, text_field="body")
    path.write_text('{"text": "a"}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"texts.jsonl:2: field 'text' holds a int, not a string"):
        read_texts(path)
    path.write_text('{"text": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"texts.jsonl:2: not valid JSON"):
        read_texts(path)


def test_tsv_by_header_name_or_index(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("id\tsentence\n1\tfirst\n2\tsecond\n", encoding="utf-8")
    assert read_texts(path, column="sentence") == ["first", "second"]
    assert read_texts(path, column="1") == ["sentence", "first", "second"]
    with pytest.raises(InputError, match=r"rows.tsv:1: no column 'text' in the header \(columns: id, sentence\)"):
        read_texts(path, column="text")
    path.write_text("id\tsentence\n1\tfirst\n2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"rows.tsv:3: 1 column\(s\); --column reads column 'sentence' \(index 1\)"):
        read_texts(path, column="sentence")
    with pytest.raises(InputError, match="give --column"):
        read_texts(path)


def test_format_choice_and_file_errors(tmp_path):
    assert input_format("a.txt") == "text" and input_format("a.JSONL") == "jsonl" and input_format("a", column="0") == "tsv"
    with pytest.raises(InputError, match="not both"):
        input_format("a.txt", text_field="text", column="0")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nnot \xff utf-8\n")
    with pytest.raises(InputError, match=r"bad.txt:2: not UTF-8 text \(byte 0xff\)"):
        read_texts(bad)
    with pytest.raises(InputError, match="no such file"):
        read_texts(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="is a folder"):
        read_texts(tmp_path)
