"""Text to word-piece ids: the original `FullTokenizer` (`full_tokenizer`), `[CLS] A [SEP] B [SEP]`
packing (`packing`) and its in-graph TensorFlow twin for SavedModels (`in_graph`).

`from bert_tf.tokenization import FullTokenizer` and the original module's functions work as in the
original `tokenization.py`.
"""
from bert_tf.tokenization.full_tokenizer import *  # noqa: F401,F403  (the original module's API)
from bert_tf.tokenization.full_tokenizer import __all__  # noqa: F401
