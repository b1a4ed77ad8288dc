"""run_squad.py end to end: the original's outputs on the shared references, the official scripts, training,
bad input. Uses the tiny checkpoints (max_seq_length 128, doc_stride 64, max_query_length 32)."""
import json
import pathlib

import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("run_squad trains with the TensorFlow backend", allow_module_level=True)

from absl import flags  # noqa: E402

import run_squad  # noqa: E402
from bert_tf.checkpoint import list_checkpoint  # noqa: E402
from bert_tf.tasks.squad import examples as squad_examples  # noqa: E402
from bert_tf.tasks.squad import features as squad_features  # noqa: E402
from tests.harness.scripts import (  # noqa: E402
    assert_fails_cleanly,
    official_squad_scores,
    read_eval_results,
    run_main,
)

WINDOW_FLAGS = ["--max_seq_length=128", "--doc_stride=64", "--max_query_length=32"]


def tiny_squad_flags(refs_dir):
    model = refs_dir / "squad" / "tiny_squad"
    return [f"--vocab_file={model / 'vocab.txt'}", f"--bert_config_file={model / 'bert_config.json'}",
            f"--init_checkpoint={model / 'model.ckpt'}", *WINDOW_FLAGS]


def read_json(path):
    return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=[("v1", True), ("v2", True), ("v1", False), ("v2", False)],
                ids=["v1", "v2", "v1-predict_pad_to_longest", "v2-predict_pad_to_longest"])
def reference_run(request, refs_dir, tmp_path_factory):
    """`--do_predict` with the tiny fine-tuned checkpoint on the reference file of each version, batches
    padded to max_seq_length (the default, as the original) or to their longest window."""
    version, padded = request.param
    reference = refs_dir / "squad" / version
    output_dir = tmp_path_factory.mktemp(f"squad_{version}") / "out"
    extra = [] if padded else ["--predict_pad_to_longest"]
    if version == "v2":
        threshold = (reference / "threshold.txt").read_text().strip()
        extra += ["--version_2_with_negative", f"--null_score_diff_threshold={threshold}"]
    status = run_main("run_squad", *tiny_squad_flags(refs_dir), "--do_predict",
                      f"--predict_file={reference / 'predict.json'}", f"--output_dir={output_dir}", *extra)
    assert status == 0
    return version, padded, reference, output_dir


def test_predictions_reproduce_the_original(reference_run):
    version, padded, reference, output_dir = reference_run
    assert read_json(output_dir / "predictions.json") == read_json(reference / "predictions.json")
    if version == "v2":
        odds, original_odds = read_json(output_dir / "null_odds.json"), read_json(reference / "null_odds.json")
        assert list(odds) == list(original_odds)
        assert all(odds[qid] == pytest.approx(value, abs=1e-3) for qid, value in original_odds.items())
    else:
        assert not (output_dir / "null_odds.json").exists()
    # The original's format: json.dumps(indent=4) and a newline.
    text = (output_dir / "predictions.json").read_text(encoding="utf-8")
    assert text == json.dumps(read_json(output_dir / "predictions.json"), indent=4) + "\n"
    ours, theirs = read_json(output_dir / "nbest_predictions.json"), read_json(reference / "nbest_predictions.json")
    assert list(ours) == list(theirs)
    if not padded:
        # Padding positions past a batch's length no longer take n-best slots: a few lists gain low entries.
        same = sum([entry["text"] for entry in ours[qid]] == [entry["text"] for entry in theirs[qid]] for qid in theirs)
        assert same >= 0.9 * len(theirs)
        assert all(ours[qid][0]["text"] == theirs[qid][0]["text"] for qid in theirs)
        return
    for qid, entries in theirs.items():
        assert [entry["text"] for entry in ours[qid]] == [entry["text"] for entry in entries], qid
        for mine, original in zip(ours[qid], entries):
            assert mine["probability"] == pytest.approx(original["probability"], abs=1e-4)
            assert mine["start_logit"] == pytest.approx(original["start_logit"], abs=1e-3)
            assert mine["end_logit"] == pytest.approx(original["end_logit"], abs=1e-3)


def test_official_script_scores_equal_eval_results(reference_run, data_dir):
    version, _, reference, output_dir = reference_run
    ours = read_eval_results(output_dir / "eval_results.txt")
    if version == "v1":
        scores = official_squad_scores(data_dir, "1.1", reference / "predict.json", output_dir / "predictions.json")
    else:
        scores = official_squad_scores(data_dir, "2.0", reference / "predict.json", output_dir / "predictions.json",
                                       "--na-prob-file", str(output_dir / "null_odds.json"))
        assert {"HasAns_exact", "NoAns_f1", "best_f1_thresh"} <= set(scores)
        scores["exact_match"] = scores["exact"]
    assert ours == pytest.approx(scores, abs=1e-9)


def test_every_original_flag_with_its_default():
    flag_values = flags.FlagValues()
    run_squad.define_flags(flag_values)
    flag_values(["run_squad.py"])
    expected = {"max_seq_length": 384, "doc_stride": 128, "max_query_length": 64, "n_best_size": 20,
                "max_answer_length": 30, "version_2_with_negative": False, "null_score_diff_threshold": 0.0,
                "verbose_logging": False, "train_file": None, "predict_file": None, "do_train": False,
                "do_predict": False, "train_batch_size": 32, "predict_batch_size": 8, "learning_rate": 5e-5,
                "num_train_epochs": 3.0, "warmup_proportion": 0.1, "save_checkpoints_steps": 1000,
                "iterations_per_loop": 1000, "use_tpu": False, "tpu_name": None, "tpu_zone": None,
                "gcp_project": None, "master": None, "num_tpu_cores": 8, "do_lower_case": True,
                "bert_config_file": None, "vocab_file": None, "init_checkpoint": None, "output_dir": None,
                "bert_dir": None, "export_dir": None, "seed": None, "dtype": "float32"}
    assert {name: flag_values[name].value for name in expected} == expected


@pytest.mark.slow
def test_train_then_predict_writes_original_checkpoints(tmp_path, data_dir, tiny_ckpt_dir):
    """SQuAD 2.0 (answerable and impossible questions): train 4 steps, predict, predict again from output_dir."""
    articles = read_json(data_dir / "squad" / "v2.0_cs224n_subset" / "dev-v2.0.json")["data"][:1]
    paragraphs = articles[0]["paragraphs"][:3]
    for paragraph in paragraphs:
        for qa in paragraph["qas"]:
            qa["answers"] = qa["answers"][:1]  # training takes one answer per question
    assert any(qa["is_impossible"] for paragraph in paragraphs for qa in paragraph["qas"])
    train_file = tmp_path / "train.json"
    train_file.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    output_dir = tmp_path / "out"
    common = [f"--bert_dir={tiny_ckpt_dir}", *WINDOW_FLAGS, f"--output_dir={output_dir}", "--seed=3",
              "--version_2_with_negative"]
    status = run_main("run_squad", *common, "--do_train", f"--train_file={train_file}", "--do_predict",
                      f"--predict_file={train_file}", "--train_batch_size=8", "--max_train_steps=4",
                      "--save_checkpoints_steps=2", "--learning_rate=1e-3")
    assert status == 0
    names = list_checkpoint(output_dir / "model.ckpt-4")
    assert names["cls/squad/output_weights"][0] == (2, 64) and names["cls/squad/output_bias"][0] == (2,)
    assert "cls/squad/output_weights/adam_m" in names and "global_step" in names
    assert "bert/pooler/dense/kernel" in names and "bert/pooler/dense/kernel/adam_m" not in names  # no gradient
    assert (output_dir / "model.ckpt-2.index").exists()
    predictions = read_json(output_dir / "predictions.json")
    assert set(predictions) == {qa["id"] for paragraph in paragraphs for qa in paragraph["qas"]}
    assert set(read_json(output_dir / "null_odds.json")) == set(predictions)
    assert {"exact_match", "f1", "HasAns_f1", "NoAns_exact", "best_f1_thresh"} <= set(
        read_eval_results(output_dir / "eval_results.txt"))
    # Predict-only from the trained output_dir (no --init_checkpoint): its checkpoint, the cached features.
    record_time = (output_dir / "eval.tf_record").stat().st_mtime_ns
    model = tiny_ckpt_dir
    status = run_main("run_squad", f"--vocab_file={model / 'vocab.txt'}",
                      f"--bert_config_file={model / 'bert_config.json'}", *WINDOW_FLAGS, f"--output_dir={output_dir}",
                      "--do_predict", f"--predict_file={train_file}", "--version_2_with_negative")
    assert status == 0 and read_json(output_dir / "predictions.json") == predictions
    assert (output_dir / "eval.tf_record").stat().st_mtime_ns == record_time


def test_unseen_dev_articles_cover_every_token_and_question(tmp_path, data_dir, refs_dir, squad_tokenizer):
    source = read_json(data_dir / "squad" / "v1.1" / "dev-v1.1.json")
    articles = [dict(article, paragraphs=article["paragraphs"][:2]) for article in source["data"][10:14]]
    predict_file = tmp_path / "dev.json"
    predict_file.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    squad_file = squad_examples.read_squad_file(str(predict_file))
    examples, _ = squad_examples.squad_examples(squad_file, is_training=False)
    windows = list(squad_features.convert_examples_to_features(examples, squad_tokenizer, 128, 64, 32,
                                                               is_training=False))
    for index, example in enumerate(examples):
        num_pieces = sum(len(squad_tokenizer.tokenize(word)) for word in example.doc_tokens)
        owned = [position for window in windows if window.example_index == index
                 for position, is_max in window.token_is_max_context.items() if is_max]
        assert len(owned) == num_pieces
    output_dir = tmp_path / "out"
    status = run_main("run_squad", *tiny_squad_flags(refs_dir), "--do_predict", f"--predict_file={predict_file}",
                      f"--output_dir={output_dir}", "--predict_batch_size=16")
    assert status == 0
    predictions = read_json(output_dir / "predictions.json")
    assert list(predictions) == [example.qas_id for example in examples]
    scores = official_squad_scores(data_dir, "1.1", predict_file, output_dir / "predictions.json")
    assert read_eval_results(output_dir / "eval_results.txt") == pytest.approx(scores, abs=1e-9)


# ------------------------------------------------------------------------------------------------ bad input
def squad_document(context="Alpha beta gamma.", qa=None):
    qa = {"id": "q1", "question": "Which?", "answers": [{"text": "beta", "answer_start": 6}]} if qa is None else qa
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]}


BAD_FILES = {
    "no_data": (json.dumps({"version": "1.1"}).encode(), "no 'data' list"),
    "no_id": (json.dumps(squad_document(qa={"question": "Which?", "answers": []})).encode(), "no 'id'"),
    "answer_outside": (json.dumps(squad_document(qa={"id": "q1", "question": "Which?", "answers": [
        {"text": "beta", "answer_start": 40}]})).encode(), "'q1': answer_start 40"),
    "empty_context": (json.dumps(squad_document(context=" \n ")).encode(), "'q1': the context is empty"),
    "not_utf8": (json.dumps(squad_document(context="caf\u00e9 beta gamma"), ensure_ascii=False).encode("latin-1"),
                 "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("flag", ["predict_file", "train_file"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, refs_dir, capsys, case, flag):
    content, message = BAD_FILES[case]
    bad_file = tmp_path / "bad.json"
    bad_file.write_bytes(content)
    output_dir = tmp_path / "out"
    action = "--do_predict" if flag == "predict_file" else "--do_train"
    assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), action, f"--{flag}={bad_file}",
                                               f"--output_dir={output_dir}"],
                         str(bad_file), message, output_dir=output_dir)


def test_an_empty_training_answer_is_refused(tmp_path, refs_dir, capsys):
    bad_file = tmp_path / "train.json"
    bad_file.write_text(json.dumps(squad_document(qa={"id": "q1", "question": "Which?", "answers": [
        {"text": "", "answer_start": 6}]})), encoding="utf-8")
    assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), "--do_train", f"--train_file={bad_file}",
                                               f"--output_dir={tmp_path / 'out'}"],
                         str(bad_file), "'q1': the training answer's text is empty", output_dir=tmp_path / "out")


def test_empty_questions_and_impossible_questions_with_answers_are_counted(caplog):
    from bert_tf.tasks.squad.examples import SquadFile, squad_examples

    qas = [{"id": "q1", "question": " ", "answers": [{"text": "beta", "answer_start": 6}]},
           {"id": "q2", "question": "Which?", "is_impossible": True, "answers": [{"text": "beta", "answer_start": 6}]}]
    articles = [{"title": "t", "paragraphs": [{"context": "Alpha beta gamma.", "qas": qas}]}]
    examples, stats = squad_examples(SquadFile("f.json", "v2.0", articles), is_training=True, version_2_with_negative=True)
    assert len(examples) == 2 and examples[1].is_impossible
    assert (stats.num_empty_questions, stats.num_impossible_with_answers) == (1, 1)
    assert "1 of 2 questions of f.json are empty" in caplog.text and "also list answers" in caplog.text


def test_a_squad2_file_without_the_v2_flag_gets_the_hint(caplog):
    from bert_tf.errors import InputError
    from bert_tf.tasks.squad.examples import SquadFile, squad_examples

    qas = [{"id": "q1", "question": "Which?", "is_impossible": True, "answers": []}]
    squad_file = SquadFile("v2.json", "v2.0", [{"title": "t", "paragraphs": [{"context": "Alpha beta.", "qas": qas}]}])
    with pytest.raises(InputError, match="'q1' is_impossible: a SQuAD 2.0 file trains with --version_2_with_negative"):
        squad_examples(squad_file, is_training=True)
    squad_examples(squad_file, is_training=False)
    assert "1 questions of v2.json are is_impossible (SQuAD 2.0): without --version_2_with_negative" in caplog.text


def test_predict_only_with_a_pretrained_checkpoint_is_refused(tmp_path, tiny_ckpt_dir, refs_dir, capsys):
    output_dir = tmp_path / "out"
    assert_fails_cleanly(capsys, "run_squad", [f"--bert_dir={tiny_ckpt_dir}", *WINDOW_FLAGS, "--do_predict",
                                               f"--predict_file={refs_dir / 'squad' / 'v1' / 'predict.json'}",
                                               f"--output_dir={output_dir}"],
                         "has no SQuAD head (cls/squad/output_weights", output_dir=output_dir)


def test_flag_errors(tmp_path, refs_dir, capsys, monkeypatch):
    predict = f"--predict_file={refs_dir / 'squad' / 'v1' / 'predict.json'}"
    output_dir = tmp_path / "out"
    output = f"--output_dir={output_dir}"
    monkeypatch.delenv("SQUAD_DIR", raising=False)
    # No mode flag means train + predict (the original README's command): both files missing, in one line.
    assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), output],
                         "--do_train needs --train_file", "--do_predict needs --predict_file")
    # $SQUAD_DIR fills in the original file names it holds.
    squad_dir = tmp_path / "squad_dir"
    squad_dir.mkdir()
    (squad_dir / "dev-v1.1.json").write_bytes((refs_dir / "squad" / "v1" / "predict.json").read_bytes())
    monkeypatch.setenv("SQUAD_DIR", str(squad_dir))
    error = assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), output],
                                 "--do_train needs --train_file", output_dir=output_dir)
    assert "--predict_file" not in error
    assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), "--do_predict", predict, output,
                                               "--max_query_length=125"],
                         "must be greater than max_query_length")
    not_a_folder = tmp_path / "export_file"
    not_a_folder.write_text("a file")
    assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), "--do_predict", predict, output,
                                               f"--export_dir={not_a_folder}"],
                         "exists and is not a folder", output_dir=output_dir)


def test_keeping_case_with_an_uncased_vocabulary_is_refused(tmp_path, refs_dir, capsys):
    output_dir = tmp_path / "out"
    assert_fails_cleanly(capsys, "run_squad", [*tiny_squad_flags(refs_dir), "--do_predict", "--do_lower_case=false",
                                               f"--predict_file={refs_dir / 'squad' / 'v1' / 'predict.json'}",
                                               f"--output_dir={output_dir}"],
                         "is uncased", output_dir=output_dir)
    assert_fails_cleanly(capsys, "export_savedmodel", [
        "--task_name=squad", *[flag for flag in tiny_squad_flags(refs_dir) if not flag.startswith("--output_dir")],
        "--do_lower_case=false", f"--export_dir={tmp_path / 'export'}"], "is uncased", output_dir=tmp_path / "export")
