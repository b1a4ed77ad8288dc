"""Numerical constants of the original `modeling.py`, shared by the layers."""

# `layer_norm` in the original: `tf.contrib.layers.layer_norm`'s epsilon, used by every LayerNorm of BERT.
LAYER_NORM_EPSILON = 1e-12
