"""Tests for bert_tf.serving.export: the version folders of an export (`next_version`) and the check of
`--export_dir` before a run (`check_export_dir`)."""
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf import serving  # noqa: E402
from bert_tf.errors import InputError  # noqa: E402


def test_next_version_is_newer_than_every_existing_one(tmp_path):
    assert serving.next_version(str(tmp_path / "absent"), now=1000.7) == 1000
    (tmp_path / "999").mkdir()
    (tmp_path / "tmp-export-abc").mkdir()
    (tmp_path / "notes").mkdir()
    assert serving.next_version(str(tmp_path), now=1000.2) == 1000
    (tmp_path / "1005").mkdir()
    assert serving.next_version(str(tmp_path), now=1000.2) == 1006


def test_check_export_refuses_a_file(tmp_path):
    from bert_tf.serving.export import check_export_dir

    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        check_export_dir(str(path))
    with pytest.raises(InputError, match=f"cannot be created: {path} is a file, not a folder"):
        check_export_dir(str(path / "models" / "bert"))
    with pytest.raises(InputError, match="--export_dir is empty"):
        check_export_dir("")
    check_export_dir(str(tmp_path / "new"))


def _rank_checked_module():
    """A module whose two signatures take text pairs [batch] and ids [batch, length] through
    `serving_function`, returning what the body saw (its static rank and the values)."""
    import tensorflow as tf

    from bert_tf.serving.export import ServingInput, serving_function

    def pair_body(text_a, text_b):
        assert text_a.shape.rank == 1 and text_b.shape.rank == 1  # static ranks restored for the body
        return {"joined": tf.strings.join([text_a, text_b], " ")}

    def ids_body(input_ids, input_mask):
        assert input_ids.shape.rank == 2
        return {"sum": tf.reduce_sum(input_ids * input_mask, axis=1)}

    module = tf.Module()
    module.pair = serving_function(pair_body, [ServingInput("text_a", tf.string, ("batch",)),
                                               ServingInput("text_b", tf.string, ("batch",))], same="rows")
    module.ids = serving_function(ids_body, [ServingInput("input_ids", tf.int32, ("batch", "length")),
                                             ServingInput("input_mask", tf.int32, ("batch", "length"))],
                                  same="shape")
    return module


def test_serving_function_checks_ranks_and_agreement_in_the_saved_signature(tmp_path):
    """A request of the wrong rank or of disagreeing inputs fails naming the input and the expected shape,
    also after saving and loading (where a declared [None] shape would not be checked at all); well-typed
    requests, empty ones included, are answered; calls by keyword and by position both work."""
    import tensorflow as tf

    module = _rank_checked_module()
    signatures = {"pair": module.pair.get_concrete_function(), "ids": module.ids.get_concrete_function()}
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path / "saved")).signatures
    for pair, ids in ((module.pair, module.ids), (loaded["pair"], loaded["ids"])):
        assert pair(text_a=tf.constant(["a"]), text_b=tf.constant(["b"]))["joined"].numpy().tolist() == [b"a b"]
        assert pair(text_a=tf.constant([], tf.string), text_b=tf.constant([], tf.string))["joined"].shape == [0]
        assert ids(input_ids=tf.constant([[1, 2]]), input_mask=tf.constant([[1, 0]]))["sum"].numpy().tolist() == [1]
        assert ids(input_ids=tf.zeros([0, 0], tf.int32), input_mask=tf.zeros([0, 0], tf.int32))["sum"].shape == [0]
        bad_requests = [
            (pair, dict(text_a=tf.constant([["a", "b"]]), text_b=tf.constant(["c"])),
             "text_a: a string tensor [batch] is expected; got rank] [2]"),
            (pair, dict(text_a=tf.constant(["a"]), text_b=tf.constant("c")),
             "text_b: a string tensor [batch] is expected; got rank] [0]"),
            (pair, dict(text_a=tf.constant(["a", "b"]), text_b=tf.constant(["c"])),
             "text_a and text_b must have the same number of rows; got] [2] [1]"),
            (ids, dict(input_ids=tf.constant([1, 2]), input_mask=tf.constant([1, 1])),
             "input_ids: an int32 tensor [batch, length] is expected; got rank] [1]"),
            (ids, dict(input_ids=tf.zeros([1, 2, 3], tf.int32), input_mask=tf.zeros([1, 2], tf.int32)),
             "input_ids: an int32 tensor [batch, length] is expected; got rank] [3]"),
            (ids, dict(input_ids=tf.zeros([1, 4], tf.int32), input_mask=tf.zeros([1, 5], tf.int32)),
             "input_ids and input_mask must have the same shape; got] [1 4] [1 5]"),
        ]
        for function, request, expected in bad_requests:
            with pytest.raises(tf.errors.InvalidArgumentError) as error:
                function(**request)
            assert expected in str(error.value)
    assert module.pair(tf.constant(["x"]), tf.constant(["y"]))["joined"].numpy().tolist() == [b"x y"]
    with pytest.raises(TypeError, match="missing a required argument: 'text_b'"):
        loaded["pair"](text_a=tf.constant(["a"]))
    # A wrong dtype: refused before the graph runs, the input counted in alphabetical order of the keys.
    with pytest.raises(tf.errors.InvalidArgumentError, match="input #1.*expected to be a string tensor"):
        loaded["pair"](text_a=tf.constant(["a"]), text_b=tf.constant([1]))
