"""bert_tf: BERT in TensorFlow 2 / Keras 3, with the original google-research/bert checkpoints and scripts."""
import setuptools

setuptools.setup(
    name="bert_tf",
    version="0.1.0",
    description="BERT in TensorFlow 2 / Keras 3 that reads and writes the original google-research/bert checkpoints",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["bert_tf", "bert_tf.*"]),
    py_modules=[
        "build_vocab",
        "convert_checkpoint",
        "create_pretraining_data",
        "encode",
        "extend_vocab",
        "extract_features",
        "export_savedmodel",
        "run_classifier",
        "run_ner",
        "run_pretraining",
        "run_squad",
        "run_swag",
    ],
    python_requires=">=3.10",
    install_requires=[
        "tensorflow==2.21.*",
        "tensorflow-text==2.21.*",
        "keras>=3.15,<4",
        "numpy",
        "absl-py",
    ],
    extras_require={
        "test": ["pytest", "seqeval", "ruff", "jieba", "safetensors", "keras-hub>=0.32"],
        # Hugging Face folders (convert_checkpoint.py, bert_tf.interop): safetensors' numpy API, no torch.
        "hub": ["safetensors"],
        # keras-hub itself, to load converted presets (the conversion reads and writes them without it).
        "keras_hub": ["keras-hub>=0.32"],
        # Chinese whole-word masking with jieba (create_pretraining_data.py --word_segmentation=jieba).
        "chinese": ["jieba"],
        # The model runs under Keras' JAX backend too (KERAS_BACKEND=jax); CI checks parity there.
        "jax": ["jax[cpu]"],
        # Peers measured in bench/.
        "bench": ["keras-hub"],
    },
)
