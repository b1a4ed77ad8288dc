"""Tests for bert_tf.tasks.pretraining.sampling: the inlined random draws equal `random.Random`'s."""
from bert_tf.tasks.pretraining import sampling as pretraining_sampling
from tests.tasks.pretraining.pretraining_data import run


def test_inlined_draws_equal_library_draws(tmp_path, uncased_tokenizer, generated_corpus, monkeypatch):
    assert pretraining_sampling.fast_draws_match_library()
    outputs = []
    for inlined in (True, False):
        monkeypatch.setattr(pretraining_sampling, "_FAST_DRAWS_MATCH", inlined)
        output = tmp_path / f"out-{inlined}.tfrecord"
        run(generated_corpus, output, uncased_tokenizer, max_seq_length=64, max_predictions_per_seq=10,
            dupe_factor=1, num_workers=1)
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
