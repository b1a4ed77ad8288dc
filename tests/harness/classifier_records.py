"""Classifier features and records for tests: synthetic features, a record built the way the original
`file_based_convert_examples_to_features` builds it, and the classifier's tf.data pipelines (shared by
tests/tasks/classification/test_features.py and tests/training/test_datasets.py)."""
import collections

import tensorflow as tf

from bert_tf.tasks.classification import features as cf
from bert_tf.training import datasets


def synthetic_features(lengths, seq_length, labels=None, regression=False):
    """Synthetic features with ``input_mask`` real lengths ``lengths``."""
    result = []
    for index, length in enumerate(lengths):
        padding = [0] * (seq_length - length)
        label = labels[index] if labels is not None else (index * 0.5 if regression else index % 2)
        result.append(cf.InputFeatures(
            input_ids=list(range(100 + index, 100 + index + length)) + padding,
            input_mask=[1] * length + padding,
            segment_ids=[0] * (length // 2) + [1] * (length - length // 2) + padding,
            label_id=label, is_real_example=True))
    return result


def original_style_example(feature, is_regression=False):
    """A tf.train.Example built the way the original file_based_convert_examples_to_features does."""
    def int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    fields = collections.OrderedDict()
    fields["input_ids"] = int_feature(feature.input_ids)
    fields["input_mask"] = int_feature(feature.input_mask)
    fields["segment_ids"] = int_feature(feature.segment_ids)
    if is_regression:
        fields["label_ids"] = tf.train.Feature(float_list=tf.train.FloatList(value=[feature.label_id]))
    else:
        fields["label_ids"] = int_feature([feature.label_id])
    fields["is_real_example"] = int_feature([int(feature.is_real_example)])
    return tf.train.Example(features=tf.train.Features(feature=fields))


def classifier_batches(path, seq_length, batch_size, is_training, is_regression, pad_to_max_length=False, seed=None,
                       drop_remainder=False):
    """The classifier's records at `path` through `bert_tf.training.datasets` (training or inference)."""
    layout = cf.record_layout(seq_length, is_regression)
    if is_training:
        return datasets.training_dataset(path, layout, batch_size, 100, pad_to_max_length, seed=seed,
                                         drop_remainder=drop_remainder)
    return datasets.inference_dataset(path, layout, batch_size, pad_to_max_length, drop_remainder)
