"""Tests for bert_tf.tasks.feature_extraction.examples: extract_features.py's input lines, read as the
original reads them (`text_a ||| text_b`)."""
from bert_tf.tasks.feature_extraction import examples as extraction_examples


def test_read_examples_like_the_original(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes("  Who was Jim Henson? ||| Jim Henson was a puppeteer.  \n\na ||| b ||| c\n"
                     "no separator|||here\n ||| lonely\u2028same line\r\nlast".encode("utf-8"))
    examples = extraction_examples.read_examples(str(path))
    assert examples == [
        extraction_examples.InputExample(0, "Who was Jim Henson?", "Jim Henson was a puppeteer."),
        extraction_examples.InputExample(1, "", None),
        extraction_examples.InputExample(2, "a ||| b", "c"),  # the original regex is greedy: the last separator splits
        extraction_examples.InputExample(3, "no separator|||here", None),
        extraction_examples.InputExample(4, "||| lonely\u2028same line", None),  # stripped first, then no " ||| " left
        extraction_examples.InputExample(5, "last", None),
    ]
