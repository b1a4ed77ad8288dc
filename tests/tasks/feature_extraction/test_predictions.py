"""Tests for bert_tf.tasks.feature_extraction.predictions: the `FeatureExtractor` (every requested layer of a
batch, padded per batch)."""
import numpy as np

from bert_tf import BertConfig
from bert_tf.tasks.feature_extraction import examples as extraction_examples
from bert_tf.tasks.feature_extraction import features
from bert_tf.tasks.feature_extraction import predictions as extraction


def test_batch_padding_does_not_change_real_token_values(reference_sentences, reference_input_lines, minilm_ckpt_dir,
                                                         minilm_tokenizer):
    """Padding a batch to its longest example, not max_seq_length, gives the same numbers; one trace."""
    config = BertConfig.from_json_file(minilm_ckpt_dir / "bert_config.json")
    extractor = extraction.FeatureExtractor.from_checkpoint(config, str(minilm_ckpt_dir), [-1, 0])
    examples = [extraction_examples.parse_line(line, example["index"])
                for line, example in zip(reference_input_lines[:4], reference_sentences["examples"][:4])]
    packed = features.convert_examples_to_features(examples, 64, minilm_tokenizer)
    trimmed = extractor(*features.batch_inputs(packed))
    full = extractor(*[np.array([getattr(f, name) for f in packed], np.int32)
                       for name in ("input_ids", "input_mask", "input_type_ids")])
    assert trimmed.shape == (2, 4, max(len(f.tokens) for f in packed), 384) and full.shape == (2, 4, 64, 384)
    for row, feature in enumerate(packed):
        length = len(feature.tokens)
        np.testing.assert_allclose(trimmed[:, row, :length], full[:, row, :length], atol=1e-5, rtol=0)
    assert extractor._forward.experimental_get_tracing_count() == 1
