"""Writes the keras-hub fixtures of the conversion tests (tests/interop/data/): a tiny random BertTextClassifier
preset as keras-hub's `save_to_preset` writes it, and keras-hub's outputs on fixed inputs.

Run with a Python that has keras-hub (`pip install -e '.[keras_hub]'`; the conversion itself never imports it):

  TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/keras_hub_interop_fixtures.py

to regenerate (the same seed gives the same weights; `metadata.json`'s date changes). It writes:

* `keras_hub_classifier.tar.gz`: the folder `keras_hub_classifier/` that `BertTextClassifier.save_to_preset`
  wrote: `config.json`, `model.weights.h5` (the BertBackbone), `tokenizer.json` and
  `assets/tokenizer/vocabulary.txt` (an uncased BertTokenizer: `lowercase` and `strip_accents`, the 30 tokens
  of the Hugging Face fixtures), `metadata.json`, `task.json`, `task.weights.h5`, `preprocessor.json`. Without
  the three task files it is the backbone preset `BertBackbone.save_to_preset` writes (`tests/interop/
  keras_hub_fixtures.py` unpacks both). Packed because the h5 files are mostly empty groups (120 KB -> 25 KB).
* `keras_hub_outputs.npz`: the inputs (`token_ids`, `segment_ids`, `padding_mask` [2, 8], the second row padded)
  and, in float32, the backbone's `sequence_output` [2, 8, 16] and `pooled_output` [2, 16] and the classifier's
  `logits` [2, 3].

The model: hidden 16, 2 layers, 2 heads, intermediate 32, 16 positions, 2 segments, 3 classes, every weight
random (biases and LayerNorm parameters too, so that each lands in its place).
"""
import os
import shutil
import tarfile
import tempfile

import keras
import keras_hub
import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "interop", "data")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "is", "of", "and", "to", "in", "it", "that",
         "was", "he", "for", "on", "are", "with", "as", "his", "they", "at", "be", "this", "##s", "##ed", "##ing", "."]
PRESET = "keras_hub_classifier"
SEED = 20


def main() -> None:
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True, strip_accents=True)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=16,
                                             intermediate_dim=32, max_sequence_length=16, num_segments=2)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=preprocessor)
    for weight in classifier.weights:
        centre = 1.0 if weight.path.endswith("gamma") else 0.0
        weight.assign((centre + 0.2 * rng.standard_normal(weight.shape)).astype("float32"))

    inputs = {"token_ids": rng.integers(5, len(VOCAB), (2, 8)).astype("int32"),
              "segment_ids": np.array([[0] * 4 + [1] * 4, [0] * 5 + [1] * 3], "int32"),
              "padding_mask": np.array([[1] * 8, [1] * 6 + [0] * 2], "int32")}
    inputs["token_ids"][:, 0] = VOCAB.index("[CLS]")
    outputs = {key: np.asarray(value, np.float32) for key, value in backbone(inputs).items()}
    outputs["logits"] = np.asarray(classifier(inputs), np.float32)
    np.savez(os.path.join(DATA_DIR, "keras_hub_outputs.npz"), **inputs, **outputs)

    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(scratch, PRESET)
        classifier.save_to_preset(folder)
        with tarfile.open(os.path.join(DATA_DIR, PRESET + ".tar.gz"), "w:gz") as archive:
            archive.add(folder, arcname=PRESET)
        shutil.rmtree(folder)
    for name in (PRESET + ".tar.gz", "keras_hub_outputs.npz"):
        print(name, os.path.getsize(os.path.join(DATA_DIR, name)), "bytes")


if __name__ == "__main__":
    main()
