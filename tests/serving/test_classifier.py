"""Tests for bert_tf.serving.classifier: the classifier's SavedModel for TF Serving (raw text in).

The "fine-tuned" tiny classifier and its exports by export_savedmodel.py are tests/harness/classifier_exports.py's
session fixtures. Exports are loaded in a FRESH process that imports only tensorflow and tensorflow_text
(bert_tf imports are refused there; tests/harness/scripts.py's `run_fresh_process`) and compared with the
Keras model's predictions on FullTokenizer-packed features computed here.
"""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf import serving, tokenization  # noqa: E402
from bert_tf.tasks.classification import examples as glue  # noqa: E402
from bert_tf.tokenization import packing  # noqa: E402
from tests.harness.classifier_exports import MAX_SEQ_LENGTH, export_flags  # noqa: E402
from tests.harness.scripts import (  # noqa: E402
    assert_fails_cleanly,
    run_fresh_process,
    run_main,
    subprocess_environment,
)

TOLERANCE = 1e-5
FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids")


# ------------------------------------------------------------------------------------------ helpers
def _keras_logits(model, tokenizer, pairs, max_seq_length=MAX_SEQ_LENGTH):
    """What --do_predict computes: FullTokenizer + original packing, then the model (no dropout)."""
    features = _python_features(tokenizer, pairs, max_seq_length)
    logits = model({key: tf.constant(value) for key, value in features.items()}, training=False)["logits"]
    return features, np.asarray(logits, np.float64)


def _python_features(tokenizer, pairs, max_seq_length):
    rows = [packing.encode_text_pair(tokenizer, text_a, text_b, max_seq_length) for text_a, text_b in pairs]
    return {key: np.array([getattr(row, key) for row in rows], np.int32) for key in FEATURE_KEYS}


def _assert_features_equal(got, expected):
    """`text_features` (padded per batch: the longest row rounded up to a multiple of 8, at most
    MAX_SEQ_LENGTH) against FullTokenizer features padded to MAX_SEQ_LENGTH."""
    width = min(MAX_SEQ_LENGTH, -(-int(expected["input_mask"].sum(axis=1).max()) // 8) * 8)
    for key in FEATURE_KEYS:
        value = np.array(got[key])
        assert value.shape == (len(expected[key]), width), key
        np.testing.assert_array_equal(value, expected[key][:, :width], err_msg=key)
        assert not expected[key][:, width:].any(), key


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# What the fresh process does with each export (after tests/harness/scripts.py's FRESH_PROCESS_HEADER).
LOADER_JOBS = """
    results = {}
    for name, job in request.items():
        loaded = tf.saved_model.load(job["path"])
        result = {"not_in_core": not_in_core[name]}
        if "text" in job:
            text = {key: tf.constant(value) for key, value in job["text"].items()}
            outputs = loaded.signatures["serving_default"](**text)
            result["serving_default"] = {key: plain(value) for key, value in outputs.items()}
            features = loaded.text_features(*text.values())
            result["text_features"] = {key: plain(value) for key, value in features.items()}
        if "reference_texts" in job:
            features = loaded.text_features(tf.constant(job["reference_texts"]))
            result["reference_features"] = {key: plain(value) for key, value in features.items()}
        if "ids" in job:
            ids = {key: tf.constant(value, tf.int32) for key, value in job["ids"].items()}
            outputs = loaded.signatures["serve_ids"](**ids)
            result["serve_ids"] = {key: plain(value) for key, value in outputs.items()}
        if "text_b" in job.get("text", {}):
            try:
                loaded.signatures["serving_default"](text_a=tf.constant(["a", "b"]), text_b=tf.constant(["c"]))
                result["size_mismatch_error"] = None
            except tf.errors.InvalidArgumentError as error:
                result["size_mismatch_error"] = error.message
        if job.get("session"):
            result["session_serving_default"] = session_outputs(job["path"], "serving_default", job["text"])
            result["session_serve_ids"] = session_outputs(job["path"], "serve_ids", job["ids"])
        results[name] = result
"""


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def mrpc_pairs(data_dir):
    examples = glue.get_processor("MRPC").get_dev_examples(str(data_dir / "glue" / "MRPC"))[:6]
    pairs = [(example.text_a, example.text_b) for example in examples]
    pairs += [
        ("No second segment here.", ""),
        (" ".join(["extraordinarily"] * 30), "Short."),  # truncation from text_a only
        ("Ünïcödé façade — «quotes» and CAFÉ", "日本語のテキスト, naïve résumé!"),
    ]
    return pairs


@pytest.fixture(scope="module")
def sst2_texts(data_dir):
    examples = glue.get_processor("SST-2").get_dev_examples(str(data_dir / "glue" / "SST-2"))[:6]
    return [example.text_a for example in examples] + [""]


@pytest.fixture(scope="module")
def stsb_pairs(data_dir):
    examples = glue.get_processor("STS-B").get_dev_examples(str(data_dir / "glue" / "STS-B"))[:5]
    return [(example.text_a, example.text_b) for example in examples]


@pytest.fixture(scope="module")
def reference_rows(tokenizer_references):
    """The uncased tokenizer reference (the tiny model's vocabulary is bert-base-uncased's)."""
    return tokenizer_references["uncased"]


@pytest.fixture(scope="module")
def expected(classifier_models, tiny_tokenizer, mrpc_pairs, sst2_texts, stsb_pairs):
    model_2, _ = classifier_models[2]
    model_1, _ = classifier_models[1]
    mrpc_features, mrpc_logits = _keras_logits(model_2, tiny_tokenizer, mrpc_pairs)
    sst2_features, sst2_logits = _keras_logits(model_2, tiny_tokenizer, [(text, None) for text in sst2_texts])
    cased = tokenization.FullTokenizer(tiny_tokenizer.vocab_file, do_lower_case=False)
    stsb_features, stsb_logits = _keras_logits(model_1, cased, stsb_pairs)
    return {
        "mrpc": (mrpc_features, _softmax(mrpc_logits)),
        "sst2": (sst2_features, _softmax(sst2_logits)),
        "stsb": (stsb_features, stsb_logits[:, 0]),
    }


@pytest.fixture(scope="module")
def loader_request(classifier_exports, expected, mrpc_pairs, sst2_texts, stsb_pairs, reference_rows):
    """The fresh process's request: every call to make on the loaded exports."""

    def ids(name):
        return {key: value.tolist() for key, value in expected[name][0].items()}

    request = {
        "mrpc": {"path": classifier_exports["mrpc"], "session": True, "ids": ids("mrpc"),
                 "text": {"text_a": [a for a, _ in mrpc_pairs], "text_b": [b for _, b in mrpc_pairs]}},
        "sst2": {"path": classifier_exports["sst2"], "ids": ids("sst2"), "text": {"text_a": sst2_texts},
                 "reference_texts": [row["text"] for row in reference_rows]},
        "stsb": {"path": classifier_exports["stsb"], "session": True, "ids": ids("stsb"),
                 "text": {"text_a": [a for a, _ in stsb_pairs], "text_b": [b for _, b in stsb_pairs]}},
    }
    return request


@pytest.fixture(scope="module")
def fresh_results(loader_request, tmp_path_factory):
    return run_fresh_process(LOADER_JOBS, loader_request, tmp_path_factory.mktemp("fresh_process"), timeout=300)


def _assert_predictions_match(results, expected):
    """Every output of the loaded exports (eager and TF 1 session) against the Keras predictions."""
    for name, key in (("mrpc", "probabilities"), ("sst2", "probabilities"), ("stsb", "predictions")):
        want = expected[name][1]
        for call in ("serving_default", "serve_ids", "session_serving_default", "session_serve_ids"):
            if call in results[name]:
                np.testing.assert_allclose(np.array(results[name][call][key]), want, atol=TOLERANCE, rtol=0,
                                           err_msg=f"{name} {call}")


# -------------------------------------------------------------------------------- the exports
def test_raw_text_matches_keras_predictions(fresh_results, expected):
    features, probabilities = expected["mrpc"]
    outputs = fresh_results["mrpc"]["serving_default"]
    assert set(outputs) == {"probabilities", "label"}
    got = np.array(outputs["probabilities"])
    assert got.shape == probabilities.shape == (9, 2)
    np.testing.assert_allclose(got, probabilities, atol=TOLERANCE, rtol=0)
    assert np.ptp(probabilities[:, 0]) > 100 * TOLERANCE  # the rows differ far beyond the tolerance
    assert outputs["label"] == [["0", "1"][index] for index in probabilities.argmax(axis=-1)]
    # The in-graph packing is exactly FullTokenizer + the original truncation.
    _assert_features_equal(fresh_results["mrpc"]["text_features"], features)
    assert features["input_mask"].sum(axis=1).max() == MAX_SEQ_LENGTH  # truncation was exercised


def test_serve_ids_matches_keras_predictions(fresh_results, expected):
    _, probabilities = expected["mrpc"]
    outputs = fresh_results["mrpc"]["serve_ids"]
    assert set(outputs) == {"probabilities"}
    np.testing.assert_allclose(np.array(outputs["probabilities"]), probabilities, atol=TOLERANCE, rtol=0)


def test_tf_serving_session_graph_gives_the_same(fresh_results, expected):
    """TF Serving runs the TF 1 graph: every variable must be restored there too."""
    _, probabilities = expected["mrpc"]
    result = fresh_results["mrpc"]
    np.testing.assert_allclose(np.array(result["session_serving_default"]["probabilities"]), probabilities,
                               atol=TOLERANCE, rtol=0)
    assert result["session_serving_default"]["label"] == result["serving_default"]["label"]
    np.testing.assert_allclose(np.array(result["session_serve_ids"]["probabilities"]), probabilities,
                               atol=TOLERANCE, rtol=0)
    _, predictions = expected["stsb"]
    np.testing.assert_allclose(np.array(fresh_results["stsb"]["session_serving_default"]["predictions"]),
                               predictions, atol=TOLERANCE, rtol=0)


def test_loading_needs_neither_keras_nor_bert_tf(fresh_results):
    assert fresh_results["new_modules"] == []


def test_single_sentence_export_takes_only_text_a(classifier_exports, fresh_results, expected):
    features, probabilities = expected["sst2"]
    loaded = tf.saved_model.load(classifier_exports["sst2"])
    signature = loaded.signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == {"text_a"}
    outputs = fresh_results["sst2"]["serving_default"]
    np.testing.assert_allclose(np.array(outputs["probabilities"]), probabilities, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(np.array(fresh_results["sst2"]["serve_ids"]["probabilities"]), probabilities,
                               atol=TOLERANCE, rtol=0)
    assert outputs["label"] == [["0", "1"][index] for index in probabilities.argmax(axis=-1)]
    assert not features["segment_ids"].any()


def test_regression_export_returns_predictions(classifier_exports, fresh_results, expected):
    features, predictions = expected["stsb"]
    result = fresh_results["stsb"]
    # Exported with --do_lower_case=false: packed like a cased FullTokenizer (to a shorter width).
    _assert_features_equal(result["text_features"], features)
    assert len(result["text_features"]["input_ids"][0]) < MAX_SEQ_LENGTH
    assert set(result["serving_default"]) == {"predictions"}
    assert set(result["serve_ids"]) == {"predictions"}
    np.testing.assert_allclose(np.array(result["serving_default"]["predictions"]), predictions,
                               atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(np.array(result["serve_ids"]["predictions"]), predictions,
                               atol=TOLERANCE, rtol=0)
    assert not (pathlib.Path(classifier_exports["stsb"]) / "assets.extra").exists()


def test_exported_tokenizer_gives_original_ids_on_reference_file(fresh_results, reference_rows, data_dir,
                                                                tiny_ckpt_dir):
    """The exported graph packs ``[CLS] google_ids [SEP]`` (google_ids cut to max_seq_length - 2).

    (tests/tokenization/test_in_graph.py checks the tokenizer itself on the cased and Chinese references too.)"""
    reference_vocab = data_dir / "vocab" / "bert-base-uncased" / "vocab.txt"
    assert reference_vocab.read_bytes() == (tiny_ckpt_dir / "vocab.txt").read_bytes()
    vocab = tokenization.load_vocab(str(reference_vocab))
    features = fresh_results["sst2"]["reference_features"]
    assert len(features["input_ids"]) == len(reference_rows) == 200
    mismatches = []
    for line, (row, ids, mask) in enumerate(zip(reference_rows, features["input_ids"], features["input_mask"]),
                                            start=1):
        length = sum(mask)
        expected_ids = [vocab["[CLS]"]] + row["google_ids"][:len(ids) - 2] + [vocab["[SEP]"]]
        if ids[:length] != expected_ids or any(ids[length:]):
            mismatches.append(line)
    assert not mismatches, mismatches


def test_saved_model_cli_lists_both_signatures(classifier_exports):
    executable = pathlib.Path(sys.executable).parent / "saved_model_cli"
    command = ([str(executable)] if executable.exists()
               else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    result = subprocess.run(command + ["show", "--all", "--dir", classifier_exports["mrpc"]],
                            env=subprocess_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    blocks = {name: text.split(f"signature_def['{name}']:", 1)[1].split("signature_def[", 1)[0]
              for name in ("serving_default", "serve_ids")}

    def tensor(block, kind, name, dtype, shape):
        shape = shape if shape == "unknown_rank" else f"({shape})"
        pattern = (rf"{kind}\['{name}'\] tensor_info:\s+dtype: {dtype}\s+shape: {re.escape(shape)}")
        return re.search(pattern, block) is not None

    # Inputs are declared of unknown rank, their rank checked in the graph (bert_tf.serving.serving_function).
    serving_default = blocks["serving_default"]
    assert tensor(serving_default, "inputs", "text_a", "DT_STRING", "unknown_rank")
    assert tensor(serving_default, "inputs", "text_b", "DT_STRING", "unknown_rank")
    assert tensor(serving_default, "outputs", "probabilities", "DT_FLOAT", "-1, 2")
    assert tensor(serving_default, "outputs", "label", "DT_STRING", "-1")
    serve_ids = blocks["serve_ids"]
    for name in FEATURE_KEYS:
        assert tensor(serve_ids, "inputs", name, "DT_INT32", "unknown_rank")
    assert tensor(serve_ids, "outputs", "probabilities", "DT_FLOAT", "-1, 2")
    assert "outputs['label']" not in serve_ids


def test_graph_needs_only_core_ops_and_two_tensorflow_text_ops(fresh_results):
    """Ops the fresh process did not know before ``import tensorflow_text``: exactly the documented ones
    (``NormalizeUTF8`` only with lower casing); no RoundRobinTrimmer or other recent tensorflow_text ops."""
    assert fresh_results["mrpc"]["not_in_core"] == sorted(serving.TENSORFLOW_TEXT_OPS)
    assert fresh_results["stsb"]["not_in_core"] == ["WordpieceTokenizeWithOffsets"]  # not lower cased


@pytest.mark.skipif(not os.environ.get("BERT_TF_COMPAT_PYTHON"),
                    reason="set BERT_TF_COMPAT_PYTHON to a python with an older tensorflow + tensorflow_text")
def test_older_tensorflow_loads_the_export(loader_request, expected, tmp_path):
    """Opt-in: e.g. a venv with tensorflow-cpu 2.12 and tensorflow-text 2.12 (TF Serving 2.12's core)."""
    results = run_fresh_process(LOADER_JOBS, loader_request, tmp_path, python=os.environ["BERT_TF_COMPAT_PYTHON"],
                                timeout=300)
    print("loaded with tensorflow", results["tensorflow_version"])
    _assert_predictions_match(results, expected)
    assert results["mrpc"]["not_in_core"] == sorted(serving.TENSORFLOW_TEXT_OPS)  # no newer core ops


def test_pair_batches_must_have_equal_sizes(fresh_results):
    assert "text_a and text_b must have the same number of rows" in fresh_results["mrpc"]["size_mismatch_error"]


# ---------------------------------------------------------------------- per-batch padding, bfloat16
BFLOAT16_TOLERANCE = 2e-2  # probabilities, mixed_bfloat16 against float32 (README's serving section)


@pytest.fixture(scope="module")
def padding_exports(classifier_models, tiny_ckpt_dir, tmp_path_factory):
    """The 2-label model exported in-process, loaded: the defaults (per-batch padding, sub-batches of
    8 rows), sub-batches of 2 rows, the whole batch at once, padded to max_seq_length (the old
    behaviour), and the defaults under mixed_bfloat16."""
    model, _ = classifier_models[2]
    root = tmp_path_factory.mktemp("padding_exports")
    settings = {"per_batch": {}, "sub_batches": {"sub_batch_size": 2},
                "whole_batch": {"sub_batch_size": None}, "max_length": {"pad_to_max_length": True},
                "bfloat16": {"serving_dtype": "mixed_bfloat16"}, "xla": {"jit_compile": True}}
    paths = {name: serving.export_classifier(model, tiny_ckpt_dir / "vocab.txt", True, MAX_SEQ_LENGTH,
                                             ["0", "1"], root / name, **options)
             for name, options in settings.items()}
    return {name: tf.saved_model.load(path) for name, path in paths.items()} | {"paths": paths}


def _padding_batches(mrpc_pairs):
    """Batches of (text_a, text_b) pairs: mixed lengths, a batch of one, empty strings, and text longer
    than MAX_SEQ_LENGTH."""
    too_long = (" ".join(["serving"] * 3 * MAX_SEQ_LENGTH), "and a second segment")
    return {
        "mixed": mrpc_pairs,
        "one": [("Short text.", "Another one.")],
        "empty": [("", "")],
        "empty_and_short": [("", ""), ("A", "")],
        "too_long": [too_long],
        "too_long_and_short": [("tiny", "pair"), too_long],
    }


def _call_text(loaded, pairs):
    text = {"text_a": tf.constant([a for a, _ in pairs]), "text_b": tf.constant([b for _, b in pairs])}
    outputs = loaded.signatures["serving_default"](**text)
    return {key: value.numpy() for key, value in outputs.items()}, loaded.text_features(*text.values())


@pytest.mark.parametrize("export", ["per_batch", "sub_batches", "whole_batch", "xla"])
def test_per_batch_padding_gives_the_padded_results(export, padding_exports, classifier_models, tiny_tokenizer,
                                                    mrpc_pairs):
    model, _ = classifier_models[2]
    for name, pairs in _padding_batches(mrpc_pairs).items():
        features, logits = _keras_logits(model, tiny_tokenizer, pairs)
        outputs, packed = _call_text(padding_exports[export], pairs)
        old_outputs, old_packed = _call_text(padding_exports["max_length"], pairs)
        np.testing.assert_allclose(outputs["probabilities"], _softmax(logits), atol=TOLERANCE, rtol=0,
                                   err_msg=name)
        np.testing.assert_allclose(outputs["probabilities"], old_outputs["probabilities"], atol=TOLERANCE,
                                   rtol=0, err_msg=name)
        assert outputs["label"].tolist() == old_outputs["label"].tolist()
        _assert_features_equal(packed, features)
        assert old_packed["input_ids"].shape == (len(pairs), MAX_SEQ_LENGTH)
    assert _call_text(padding_exports["per_batch"], [("", "")])[1]["input_ids"].shape == (1, 8)


def test_tf_serving_request_batching(padding_exports, classifier_models, tiny_tokenizer, mrpc_pairs):
    """TF Serving's batcher concatenates requests along dimension 0 and, with
    `pad_variable_length_inputs`, pads each request's tensors to the longest with their first element."""
    model, _ = classifier_models[2]
    loaded = padding_exports["per_batch"]
    requests = [mrpc_pairs[:2], [("Short.", "")], mrpc_pairs[6:]]
    alone = [_call_text(loaded, pairs)[0]["probabilities"] for pairs in requests]
    merged = _call_text(loaded, [pair for pairs in requests for pair in pairs])[0]["probabilities"]
    np.testing.assert_allclose(merged, np.concatenate(alone), atol=TOLERANCE, rtol=0)

    # serve_ids: each request packed to its own longest row, then padded like the batcher does.
    per_request = []
    for pairs in requests:
        features = _python_features(tiny_tokenizer, pairs, MAX_SEQ_LENGTH)
        width = int(features["input_mask"].sum(axis=1).max())
        per_request.append({key: value[:, :width] for key, value in features.items()})
    longest = max(features["input_ids"].shape[1] for features in per_request)
    batched = {key: np.concatenate([np.pad(features[key], [(0, 0), (0, longest - features[key].shape[1])],
                                           constant_values=features[key][0, 0])
                                    for features in per_request])
               for key in FEATURE_KEYS}
    short_row = len(requests[0])  # the batcher's padding of "Short." looks like real [CLS] tokens
    assert batched["input_mask"][short_row, -1] == 1 and batched["input_ids"][short_row, -1] == 101
    _, logits = _keras_logits(model, tiny_tokenizer, [pair for pairs in requests for pair in pairs])
    got = loaded.signatures["serve_ids"](**{key: tf.constant(value) for key, value in batched.items()})
    np.testing.assert_allclose(got["probabilities"].numpy(), _softmax(logits), atol=TOLERANCE, rtol=0)
    unmasked = model({key: tf.constant(value) for key, value in batched.items()}, training=False)["logits"]
    assert np.abs(_softmax(np.asarray(unmasked, np.float64)) - _softmax(logits)).max() > 100 * TOLERANCE


@pytest.mark.parametrize("export", ["per_batch", "sub_batches", "whole_batch", "xla"])
def test_session_graph_pads_per_batch(export, padding_exports, classifier_models, tiny_tokenizer, mrpc_pairs):
    """The TF 1 session graph TF Serving runs: one graph for every padded length."""
    model, _ = classifier_models[2]
    batches = _padding_batches(mrpc_pairs)
    expected = {name: _softmax(_keras_logits(model, tiny_tokenizer, pairs)[1]) for name, pairs in batches.items()}
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.load(session, ["serve"], padding_exports["paths"][export])
        signature = meta_graph.signature_def["serving_default"]
        for name, pairs in batches.items():
            feeds = {signature.inputs["text_a"].name: [a for a, _ in pairs],
                     signature.inputs["text_b"].name: [b for _, b in pairs]}
            got = session.run(signature.outputs["probabilities"].name, feeds)
            np.testing.assert_allclose(got, expected[name], atol=TOLERANCE, rtol=0, err_msg=name)


def test_mixed_bfloat16_export(padding_exports, mrpc_pairs):
    for name, pairs in _padding_batches(mrpc_pairs).items():
        float32 = _call_text(padding_exports["per_batch"], pairs)[0]["probabilities"]
        bfloat16 = _call_text(padding_exports["bfloat16"], pairs)[0]["probabilities"]
        assert bfloat16.dtype == np.float32
        np.testing.assert_allclose(bfloat16, float32, atol=BFLOAT16_TOLERANCE, rtol=0, err_msg=name)
    mixed = _call_text(padding_exports["bfloat16"], mrpc_pairs)[0]["probabilities"]
    assert np.abs(mixed - _call_text(padding_exports["per_batch"], mrpc_pairs)[0]["probabilities"]).max() \
        > TOLERANCE  # it did compute in bfloat16
    assert all(variable.dtype == tf.float32 for variable in padding_exports["bfloat16"].model_variables)


def _xla_compiled_functions(path):
    """Names of the functions in a SavedModel's graph marked for XLA compilation."""
    graph = tf.saved_model.load(path).signatures["serving_default"].graph.as_graph_def()
    return [function.signature.name for function in graph.library.function
            if function.attr["_XlaMustCompile"].b]


def test_xla_export_compiles_the_model_and_serves_ids_alike(padding_exports, classifier_models, tiny_tokenizer,
                                                           mrpc_pairs, tiny_ckpt_dir, tmp_path, capsys):
    assert _xla_compiled_functions(padding_exports["paths"]["xla"])
    assert not _xla_compiled_functions(padding_exports["paths"]["per_batch"])
    features = _python_features(tiny_tokenizer, mrpc_pairs, MAX_SEQ_LENGTH)
    ids = {key: tf.constant(value) for key, value in features.items()}
    np.testing.assert_allclose(padding_exports["xla"].signatures["serve_ids"](**ids)["probabilities"].numpy(),
                               padding_exports["per_batch"].signatures["serve_ids"](**ids)["probabilities"].numpy(),
                               atol=TOLERANCE, rtol=0)
    flags = export_flags("MRPC", tiny_ckpt_dir, classifier_models[2][1], tmp_path / "xla")
    assert run_main("export_savedmodel", *flags, "--serving_xla") == 0
    assert _xla_compiled_functions(capsys.readouterr().out.strip())
    squad_flags = [flag.replace("--task_name=MRPC", "--task_name=squad") for flag in flags]
    assert_fails_cleanly(capsys, "export_savedmodel", [*squad_flags, "--serving_xla"],
                         "--serving_xla is for classifier exports")


def test_export_option_errors_are_input_errors(classifier_models, tiny_ckpt_dir, tmp_path):
    from bert_tf.errors import InputError

    model, _ = classifier_models[2]
    vocab_file = tiny_ckpt_dir / "vocab.txt"
    with pytest.raises(InputError, match="serving_dtype must be one of float32, mixed_bfloat16"):
        serving.export_classifier(model, vocab_file, True, 16, ["0", "1"], tmp_path, serving_dtype="fp16")
    with pytest.raises(InputError, match="not both"):
        serving.export_classifier(model, vocab_file, True, 16, ["0", "1"], tmp_path, pad_to_multiple_of=8,
                                  padded_lengths=[8])
    with pytest.raises(InputError, match="pad_to_multiple_of must be a positive integer"):
        serving.export_classifier(model, vocab_file, True, 16, ["0", "1"], tmp_path, pad_to_multiple_of=-8)
    with pytest.raises(InputError, match="sub_batch_size must be a positive integer"):
        serving.export_classifier(model, vocab_file, True, 16, ["0", "1"], tmp_path, sub_batch_size=0)
    assert not any(tmp_path.iterdir())


def test_export_classifier_checks_its_settings(classifier_models, tiny_ckpt_dir, tmp_path):
    model, _ = classifier_models[2]
    vocab_file = tiny_ckpt_dir / "vocab.txt"
    with pytest.raises(ValueError, match="3 labels but the model has 2 outputs"):
        serving.export_classifier(model, vocab_file, True, 16, ["a", "b", "c"], tmp_path)
    with pytest.raises(ValueError, match="regression task"):
        serving.export_classifier(model, vocab_file, True, 16, [None], tmp_path)
    with pytest.raises(ValueError, match="max_seq_length must be >= 3"):
        serving.export_classifier(model, vocab_file, True, 2, ["0", "1"], tmp_path)
    with pytest.raises(ValueError, match="regression export needs a model with 1 output"):
        serving.export_classifier(model, vocab_file, True, 16, [None], tmp_path, is_regression=True)
    assert not any(tmp_path.iterdir())


def test_invalid_utf8_is_refused_naming_the_input(classifier_models, tiny_ckpt_dir):
    from bert_tf.serving.classifier import ClassifierServingModule
    from bert_tf.tokenization.in_graph import InGraphBertTokenizer

    tokenizer = InGraphBertTokenizer(tiny_ckpt_dir / "vocab.txt", True, MAX_SEQ_LENGTH)
    module = ClassifierServingModule(classifier_models[2][0], tokenizer, ["0", "1"])
    outputs = module.serve_text(tf.constant(["", "   "]), tf.constant(["", "\u2028"]))  # empty texts: answered
    assert outputs["probabilities"].shape == (2, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="text_b holds a string that is not valid UTF-8 at row"):
        module.serve_text(tf.constant(["a", "b", "c"]), tf.constant([b"fine", b"fine", b"\xc3("]))
