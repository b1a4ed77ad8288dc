"""run_ner.py end to end, in process, on slices of the shared CoNLL-2003 files with the tiny checkpoint."""
import json
import os
import shutil

import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("run_ner trains with the TensorFlow backend", allow_module_level=True)

from bert_tf.checkpoint import latest_checkpoint, list_checkpoint  # noqa: E402
from bert_tf.files import read_eval_results  # noqa: E402
from tests.harness.scripts import assert_fails_cleanly, run_main  # noqa: E402

LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
LONG_SENTENCE_WORDS = 150


def head_sentences(source, count):
    """The lines of `source` up to its `count`-th blank line (so `-DOCSTART-` lines come along)."""
    lines, blanks = [], 0
    for line in source.read_text(encoding="utf-8").splitlines(keepends=True):
        lines.append(line)
        blanks += not line.strip()
        if blanks >= count:
            break
    return lines


@pytest.fixture(scope="module")
def conll_dir(tmp_path_factory, data_dir):
    source = data_dir / "conll2003"
    target = tmp_path_factory.mktemp("conll")
    (target / "train.txt").write_text("".join(head_sentences(source / "train.txt", 100)), encoding="utf-8")
    (target / "valid.txt").write_text("".join(head_sentences(source / "valid.txt", 30)), encoding="utf-8")
    test_lines = head_sentences(source / "test.txt", 30)
    # A sentence longer than any window (split, never truncated) and a word without word pieces.
    words = [line for line in test_lines if line.strip() and not line.startswith("-DOCSTART-")]
    test_lines += (words * 10)[:LONG_SENTENCE_WORDS] + ["\n", "Zero NNP B-NP B-PER\n", "\u200b NNP I-NP I-PER\n",
                                                         "width NN I-NP O\n", "\n"]
    (target / "test.txt").write_text("".join(test_lines), encoding="utf-8")
    return target


def command_flags(data_dir, output_dir, bert_dir, *extra):
    return [f"--data_dir={data_dir}", f"--output_dir={output_dir}", f"--bert_dir={bert_dir}",
            "--max_seq_length=32", "--train_batch_size=16", "--eval_batch_size=16", "--predict_batch_size=16",
            "--num_train_epochs=2", "--learning_rate=1e-3", "--seed=1", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, conll_dir, tiny_ckpt_dir):
    output_dir = tmp_path_factory.mktemp("ner") / "out"
    assert run_main("run_ner", *command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_train", "--do_eval",
                                   "--do_predict", "--log_every_steps=1")) == 0
    return output_dir


def conll_rows(path):
    """Each non-blank line of a CoNLL file as its columns."""
    return [line.split() for line in path.read_text(encoding="utf-8").split("\n") if line.split()]


def test_train_eval_predict_writes_results_labels_and_checkpoints(trained, tiny_ckpt_dir):
    assert json.loads((trained / "label_map.json").read_text()) == {label: index for index, label in enumerate(LABELS)}
    results = read_eval_results(str(trained / "eval_results.txt"))
    types = ("LOC", "MISC", "ORG", "PER")
    assert set(results) >= {"eval_precision", "eval_recall", "eval_f1", "eval_accuracy", "eval_loss", "global_step"}
    assert set(results) >= {f"eval_{metric}_{name}" for metric in ("precision", "recall", "f1") for name in types}
    for key, value in results.items():
        assert 0 <= float(value) <= (float("inf") if key in ("eval_loss", "global_step") else 1), key
    newest = latest_checkpoint(str(trained))
    step = int(newest.rsplit("-", 1)[1])
    assert int(results["global_step"]) == step > 0

    entries = list_checkpoint(newest)
    assert entries["cls/ner/output_weights"][0] == (len(LABELS), 64)
    assert entries["cls/ner/output_bias"][0] == (len(LABELS),)
    assert {"cls/ner/output_weights/adam_m", "cls/ner/output_bias/adam_v", "global_step"} <= set(entries)
    assert "output_weights" not in entries
    pretrained = {name for name in list_checkpoint(str(tiny_ckpt_dir)) if name.startswith("bert/")
                  and not name.endswith(("/adam_m", "/adam_v"))}
    assert pretrained <= set(entries)
    assert "bert/pooler/dense/kernel/adam_m" not in entries  # no gradient reaches the pooler, as in the original
    for name in ("train.tf_record", "eval.tf_record", "predict.tf_record", "eval_predictions.txt"):
        assert (trained / name).is_file()
    assert not [name for name in os.listdir(trained) if ".tmp-" in name]


def test_every_test_word_is_predicted_in_conll_form(trained, conll_dir):
    source = conll_rows(conll_dir / "test.txt")
    written = conll_rows(trained / "test_predictions.txt")
    assert len(written) == len(source)
    for row, original in zip(written, source):
        assert len(row) == 3  # conlleval: the same number of columns on every line
        if original[0] == "-DOCSTART-":
            assert row == ["-DOCSTART-", "O", "O"]
        else:
            assert row[:2] == [original[0], original[-1]] and row[2] in LABELS
    assert ["\u200b", "I-PER", "O"] in written  # no word piece: tagged O
    text = (trained / "test_predictions.txt").read_text(encoding="utf-8")
    assert text.startswith("-DOCSTART- O O\n\n") and text.endswith("\n\n")
    assert sum(1 for row in written if row[0] != "-DOCSTART-") == sum(1 for row in source if row[0] != "-DOCSTART-")


def test_test_results_match_seqeval_on_the_predictions_file(trained):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    gold, predicted, gold_sentence, predicted_sentence = [], [], [], []
    for line in (trained / "test_predictions.txt").read_text(encoding="utf-8").split("\n") + [""]:
        columns = line.split()
        if columns and columns[0] != "-DOCSTART-":
            gold_sentence.append(columns[1])
            predicted_sentence.append(columns[2])
        elif gold_sentence:
            gold.append(gold_sentence)
            predicted.append(predicted_sentence)
            gold_sentence, predicted_sentence = [], []
    results = {key: float(value) for key, value in read_eval_results(str(trained / "test_results.txt")).items()}
    assert results["test_f1"] == pytest.approx(seqeval_metrics.f1_score(gold, predicted, zero_division=0), abs=1e-9)
    assert results["test_precision"] == pytest.approx(
        seqeval_metrics.precision_score(gold, predicted, zero_division=0), abs=1e-9)
    assert results["test_recall"] == pytest.approx(
        seqeval_metrics.recall_score(gold, predicted, zero_division=0), abs=1e-9)


def test_predict_only_reads_the_label_map_next_to_the_checkpoint(trained, conll_dir, tiny_ckpt_dir, tmp_path):
    words_only = tmp_path / "words.txt"
    words_only.write_text("".join(f"{row[0]}\n" if row else "\n" for row in
                                  (line.split() for line in (conll_dir / "test.txt").read_text().split("\n"))),
                          encoding="utf-8")
    output_dir = tmp_path / "predict"
    assert run_main("run_ner", *command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_predict",
                                   f"--predict_file={words_only}",
                                   f"--init_checkpoint={latest_checkpoint(str(trained))}")) == 0
    assert not (output_dir / "results_words.txt").exists() and not (output_dir / "label_map.json").exists()
    assert not (output_dir / "test_predictions.txt").exists()  # named after the file it tags
    tagged = [row for row in conll_rows(trained / "test_predictions.txt") if row[0] != "-DOCSTART-"]
    untagged = [row for row in conll_rows(output_dir / "predictions_words.txt") if row[0] != "-DOCSTART-"]
    assert [row[0] for row in untagged] == [row[0] for row in tagged]
    assert [row[1] for row in untagged] == [row[2] for row in tagged]  # the same model: the same tags


def test_predicting_another_file_into_a_finished_run_keeps_its_files_and_the_input(trained, conll_dir,
                                                                                   tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "run"
    shutil.copytree(trained, output_dir)
    before = {name: (output_dir / name).read_bytes() for name in ("test_predictions.txt", "test_results.txt")}
    other = tmp_path / "other.txt"  # a tagged file other than the test set: its own predictions and scores
    other.write_text((conll_dir / "valid.txt").read_text(encoding="utf-8"), encoding="utf-8")
    flags = [f"--data_dir={conll_dir}", f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}",
             "--max_seq_length=32", "--do_predict"]
    assert run_main("run_ner", *flags, f"--predict_file={other}") == 0
    assert {name: (output_dir / name).read_bytes() for name in before} == before
    assert (output_dir / "predictions_other.txt").exists() and "test_f1" in (output_dir / "results_other.txt").read_text()
    # the run's own predictions given as the file to tag (another spelling of the path): read, never replaced
    spelled = f"{output_dir}/../{output_dir.name}/./test_predictions.txt"
    assert run_main("run_ner", *flags, f"--predict_file={spelled}") == 0
    assert (output_dir / "test_predictions.txt").read_bytes() == before["test_predictions.txt"]
    assert (output_dir / "predictions_test_predictions.txt").exists()
    # the test file itself, however spelled, is the test set: the usual names
    assert run_main("run_ner", *flags, f"--predict_file={conll_dir}/../{conll_dir.name}/test.txt") == 0
    assert not (output_dir / "predictions_test.txt").exists()


def test_eval_only_in_output_dir_reuses_its_label_map_and_checkpoint(trained, conll_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "copy"
    shutil.copytree(trained, output_dir)
    before = read_eval_results(str(output_dir / "eval_results.txt"))
    assert run_main("run_ner", *command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_eval")) == 0
    after = read_eval_results(str(output_dir / "eval_results.txt"))
    assert sorted(after) == sorted(before)
    for key in before:
        assert float(after[key]) == pytest.approx(float(before[key]), rel=1e-5, abs=1e-6), key


def test_predict_only_without_label_map_is_an_error(capsys, conll_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    fails_cleanly(capsys, output_dir, command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_predict"),
                         "no label_map.json in --output_dir", "--do_train first")


# ------------------------------------------------------------------------------------------------
# Bad input: status 1, one line on stderr naming file and line, nothing written
# ------------------------------------------------------------------------------------------------
def fails_cleanly(capsys, output_dir, flags_list, *expected):
    """The run is refused in one line and `output_dir` is left exactly as it was (absent: still absent)."""
    return assert_fails_cleanly(capsys, "run_ner", flags_list, *expected, output_dir=output_dir)


@pytest.mark.parametrize("file_name, content, expected", [
    ("train.txt", "EU NNP B-NP B-ORG\nrejects\n", "train.txt:2: no tag column"),
    ("train.txt", "-DOCSTART- -X- -X- O\n\n", "train.txt:1: the file has only -DOCSTART- lines"),
    ("valid.txt", "", "valid.txt:1: the file is empty"),
    ("test.txt", "EU NNP B-NP B-ORG\n\nCaf\xe9 NN I-NP O\n", "test.txt:3: not UTF-8"),
    ("valid.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP B-ANIMAL\n", "valid.txt:2: tag 'B-ANIMAL' has entity type"),
])
def test_bad_conll_files_fail_before_writing(capsys, conll_dir, tiny_ckpt_dir, tmp_path, file_name, content,
                                             expected):
    data = tmp_path / "data"
    shutil.copytree(conll_dir, data)
    if "\xe9" in content:
        (data / file_name).write_bytes(content.encode("latin-1"))
    else:
        (data / file_name).write_text(content, encoding="utf-8")
    output_dir = tmp_path / "out"
    fails_cleanly(capsys, output_dir, command_flags(data, output_dir, tiny_ckpt_dir, "--do_train", "--do_eval",
                                                           "--do_predict"), str(data / expected))


def test_missing_files_and_export_dir_fail_before_writing(capsys, conll_dir, tiny_ckpt_dir, tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    not_a_folder = tmp_path / "export_file"
    not_a_folder.write_text("a file")
    fails_cleanly(capsys, output_dir, command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_train",
                                                           f"--export_dir={not_a_folder}"),
                         "exists and is not a folder")
    fails_cleanly(capsys, output_dir, command_flags(tmp_path, output_dir, tiny_ckpt_dir, "--do_eval"),
                         "no dev.txt or valid.txt")
    fails_cleanly(capsys, output_dir, command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_predict",
                                                           f"--predict_file={tmp_path / 'nope.txt'}"),
                         "--predict_file", "nope.txt")
    # Everything missing is reported at once (no mode flag means train + evaluate).
    monkeypatch.delenv("BERT_BASE_DIR", raising=False)
    fails_cleanly(capsys, output_dir, [f"--output_dir={output_dir}"], "--data_dir is required",
                         "the model is required")


def test_no_mode_flag_trains_and_evaluates_into_out_ner(capsys, conll_dir, tiny_ckpt_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BERT_BASE_DIR", str(tiny_ckpt_dir))
    flags_list = [flag for flag in command_flags(conll_dir, "unused", "unused", "--max_train_steps=2")
                  if not flag.startswith(("--output_dir", "--bert_dir"))]
    assert run_main("run_ner", *flags_list) == 0
    assert (tmp_path / "out" / "ner" / "eval_results.txt").exists()
    assert not (tmp_path / "out" / "ner" / "test_predictions.txt").exists()
    output = capsys.readouterr()
    assert "eval_f1 = " in output.out and "out/ner" in output.out


def test_training_on_other_labels_in_a_trained_output_dir_is_refused(capsys, trained, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "copy"
    shutil.copytree(trained, output_dir)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("Peter NNP B-NP B-PER\nsays VBZ B-VP O\n", encoding="utf-8")
    fails_cleanly(capsys, output_dir, command_flags(data, output_dir, tiny_ckpt_dir, "--do_train"),
                  "lists other labels than", "use a new --output_dir")


def test_predict_only_with_a_pretrained_checkpoint_is_refused(capsys, trained, conll_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    shutil.copy(trained / "label_map.json", output_dir / "label_map.json")
    fails_cleanly(capsys, output_dir, command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_predict"),
                  "has no NER head", "cls/ner/output_weights")
    assert sorted(os.listdir(output_dir)) == ["label_map.json"]


# ------------------------------------------------------------------------------------------------
# Your own data: other formats and schemes train the same model and give the same results
# ------------------------------------------------------------------------------------------------
def conll_sentences(path):
    """(words, tags) of each sentence of a CoNLL file, -DOCSTART- lines dropped."""
    sentences, words, tags = [], [], []
    for row in [line.split() for line in path.read_text(encoding="utf-8").split("\n")] + [[]]:
        if row and row[0] != "-DOCSTART-":
            words.append(row[0])
            tags.append(row[-1])
        elif words:
            sentences.append((words, tags))
            words, tags = [], []
    return sentences


@pytest.fixture(scope="module")
def other_formats(conll_dir, tmp_path_factory):
    """The CoNLL subset as JSON lines (IOB2) and as CoNLL in BIOES with the tag in the second column."""
    from bert_tf.tasks.ner import tag_schemes

    jsonl, bioes = tmp_path_factory.mktemp("ner_jsonl"), tmp_path_factory.mktemp("ner_bioes")
    for name, target in (("train", "train"), ("valid", "dev"), ("test", "test")):
        sentences = conll_sentences(conll_dir / f"{name}.txt")
        labels = [tag_schemes.to_iob2(tags, "iob1") for _, tags in sentences]
        (jsonl / f"{target}.jsonl").write_text("".join(
            json.dumps({"tokens": words, "tags": tags}) + "\n" for (words, _), tags in zip(sentences, labels)),
            encoding="utf-8")
        (bioes / f"{target}.conll").write_text("".join(
            "".join(f"{word} {tag} x\n" for word, tag in zip(words, tag_schemes.from_iob2(tags, "bioes"))) + "\n"
            for (words, _), tags in zip(sentences, labels)), encoding="utf-8")
    return {"jsonl": jsonl, "bioes": bioes}


@pytest.mark.parametrize("name, extra", [("jsonl", []), ("bioes", ["--tag_column=1", "--tag_scheme=bioes"])])
def test_other_formats_and_schemes_give_the_same_results(trained, other_formats, tiny_ckpt_dir, tmp_path, name,
                                                         extra):
    from bert_tf.tasks.ner import tag_schemes

    output_dir = tmp_path / "out"
    assert run_main("run_ner", *command_flags(other_formats[name], output_dir, tiny_ckpt_dir, "--do_train",
                                              "--do_eval", "--do_predict", "--log_every_steps=1", *extra)) == 0
    assert (json.loads((output_dir / "label_map.json").read_text())
            == json.loads((trained / "label_map.json").read_text()))
    assert read_eval_results(str(output_dir / "eval_results.txt")) == read_eval_results(str(trained / "eval_results.txt"))
    assert read_eval_results(str(output_dir / "test_results.txt")) == read_eval_results(str(trained / "test_results.txt"))
    expected = [tag_schemes.to_iob2([row[2] for row in sentence], "iob1") for sentence in
                _sentence_rows(trained / "test_predictions.txt")]
    if name == "jsonl":
        written = [json.loads(line) for line in (output_dir / "test_predictions.jsonl").read_text().splitlines()]
        assert [record["tags"] for record in written] == expected
    else:
        rows = _sentence_rows(output_dir / "test_predictions.txt")
        assert [tag_schemes.to_iob2([row[2] for row in sentence], "bioes") for sentence in rows] == expected


def _sentence_rows(path):
    """The rows of each sentence of a prediction file, -DOCSTART- lines dropped."""
    sentences, rows = [], []
    for line in path.read_text(encoding="utf-8").split("\n") + [""]:
        columns = line.split()
        if columns and columns[0] != "-DOCSTART-":
            rows.append(columns)
        elif rows:
            sentences.append(rows)
            rows = []
    return sentences


def test_character_spans_and_bmes_train_and_predict(data_dir, tiny_ckpt_dir, tmp_path):
    spans = tmp_path / "spans"
    spans.mkdir()
    for name in ("train", "dev"):
        lines = (data_dir / "cluener" / f"{name}.json").read_text(encoding="utf-8").splitlines()[:40]
        (spans / f"{name}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (spans / "test.json").write_text("\n".join((data_dir / "cluener" / "test.json").read_text(
        encoding="utf-8").splitlines()[:5]) + "\n", encoding="utf-8")
    output_dir = tmp_path / "out"
    assert run_main("run_ner", *command_flags(spans, output_dir, tiny_ckpt_dir, "--do_train", "--do_eval",
                                              "--do_predict", "--max_train_steps=3")) == 0
    written = [json.loads(line) for line in (output_dir / "test_predictions.json").read_text().splitlines()]
    sources = [json.loads(line) for line in (spans / "test.json").read_text().splitlines()]
    assert [record["text"] for record in written] == [record["text"] for record in sources]
    for record in written:
        for entities in record["label"].values():
            for entity, positions in entities.items():
                assert all(record["text"][start:end + 1] == entity for start, end in positions)
    assert "eval_f1" in read_eval_results(str(output_dir / "eval_results.txt"))
    bmes = tmp_path / "bmes"
    bmes.mkdir()
    lines = head_sentences(data_dir / "msra_ner" / "bmes" / "test.ner", 40)
    (bmes / "train.ner").write_text("".join(lines), encoding="utf-8")
    (bmes / "test.ner").write_text("".join(lines[:200]), encoding="utf-8")
    assert run_main("run_ner", *command_flags(bmes, tmp_path / "bmes_out", tiny_ckpt_dir, "--do_train",
                                              "--do_predict", "--max_train_steps=3")) == 0
    predicted = [row for row in conll_rows(tmp_path / "bmes_out" / "test_predictions.txt")]
    assert all(row[2][0] in "BMESO" and row[2][:2] != "I-" for row in predicted)


def test_mixed_schemes_and_bad_tags_are_refused(other_formats, tiny_ckpt_dir, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(other_formats["bioes"], mixed)
    dev = [json.loads(line) for line in (other_formats["jsonl"] / "dev.jsonl").read_text().splitlines()]
    (mixed / "dev.conll").write_text("".join("".join(f"{word} {tag} x\n" for word, tag in zip(
        record["tokens"], record["tags"])) + "\n" for record in dev), encoding="utf-8")  # IOB2
    fails_cleanly(capsys, tmp_path / "out", command_flags(mixed, tmp_path / "out", tiny_ckpt_dir, "--do_train",
                                                          "--do_eval", "--tag_column=1"),
                  "dev.conll: its tags are", "mixed schemes")
    fails_cleanly(capsys, tmp_path / "out", command_flags(other_formats["bioes"], tmp_path / "out", tiny_ckpt_dir,
                                                          "--do_train", "--tag_column=1", "--tag_scheme=iob2"),
                  "train.conll:", "is not IOB2")


def test_document_context_tags_a_document_as_its_paragraph(conll_dir, tiny_ckpt_dir, tmp_path):
    """--document_context: windows over -DOCSTART- documents; the same documents given as one JSON line
    each (a paragraph, what the raw-text export receives) get the same tags."""
    from bert_tf.tasks.ner import examples

    output_dir = tmp_path / "out"
    assert run_main("run_ner", *command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_train", "--do_predict",
                                              "--document_context", "--max_train_steps=6")) == 0
    sentences = [block.splitlines() for block in
                 (output_dir / "test_predictions.txt").read_text(encoding="utf-8").split("\n\n") if block.strip()]
    predicted = [[line.split()[-1] for line in block] for block in sentences if not block[0].startswith("-DOCSTART-")]
    conll = examples.read_conll_file(str(conll_dir / "test.txt"))
    documents = examples.documents(conll)
    assert len(documents) > 1 and any(len(document) > 1 for document in documents)
    paragraph_file = tmp_path / "paragraphs.jsonl"
    paragraph_file.write_text("".join(json.dumps({
        "tokens": [word for index in document for word in conll.sentences[index].words],
        "doc_id": f"doc{number}"}) + "\n" for number, document in enumerate(documents)), encoding="utf-8")
    assert run_main("run_ner", *command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_predict",
                                              "--document_context", f"--predict_file={paragraph_file}")) == 0
    paragraphs = [json.loads(line) for line in
                  (output_dir / f"predictions_{paragraph_file.stem}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [record["doc_id"] for record in paragraphs] == [f"doc{number}" for number in range(len(documents))]
    for document, record in zip(documents, paragraphs):
        assert record["tags"] == [tag for index in document for tag in predicted[index]]


def test_keeping_case_with_an_uncased_vocabulary_is_refused(capsys, conll_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    fails_cleanly(capsys, output_dir, command_flags(conll_dir, output_dir, tiny_ckpt_dir, "--do_train",
                                                    "--nodo_lower_case"),
                  "vocab.txt is uncased", "pass --do_lower_case=True")
