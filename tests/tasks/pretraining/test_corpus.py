"""Tests for bert_tf.tasks.pretraining.corpus: reading the corpus (documents of sentences of the tokenizer's
ids, undecodable bytes dropped and counted)."""
from bert_tf.files import expand_input_files
from bert_tf.tasks.pretraining import corpus as pretraining_corpus
from tests.tasks.pretraining.pretraining_data import run


def test_reading_matches_tokenizer_and_counts_undecodable_bytes(tmp_path, uncased_tokenizer):
    lines = ["Hello,  wörld!\tTabs and   spaces.", "\u3000ideographic\u3000space 中文字 ok",
             "control\x07char and \u00e9t\u00e9", "", "second document"]
    first = tmp_path / "a.txt"
    first.write_bytes("\n".join(lines[:3]).encode() + b" bad\xff\xfebytes\n\n" + lines[4].encode())
    second = tmp_path / "b[1].txt"  # glob characters in an existing name
    second.write_text("continues the document\n\nthird document\n", encoding="utf-8")
    files = expand_input_files(f"{first},{second}")
    assert files == [str(first), str(second)]
    corpus = pretraining_corpus.read_corpus(files, uncased_tokenizer)
    expected_lines = [lines[0], lines[1], lines[2] + " badbytes"]

    def ids(text):
        return uncased_tokenizer.convert_tokens_to_ids(uncased_tokenizer.tokenize(text))

    documents = [[list(sentence) for sentence in document] for document in corpus.documents]
    assert documents == [
        [ids(line) for line in expected_lines],
        [ids("second document"), ids("continues the document")],  # no blank line: same document
        [ids("third document")],
    ]
    assert corpus.undecodable_bytes == {str(first): 2}
    summary = run(f"{first},{second}", tmp_path / "out.tfrecord", uncased_tokenizer, max_seq_length=32,
                  max_predictions_per_seq=4, dupe_factor=1, num_workers=1)
    assert summary.undecodable_bytes == {str(first): 2} and "undecodable bytes" in summary.format()
