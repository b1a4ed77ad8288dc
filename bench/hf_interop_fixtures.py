"""Writes the Hugging Face fixtures of the conversion tests (tests/interop/data/): tiny random transformers BERT
models of every head, their tensors as transformers saved them, and their outputs on fixed inputs.

Run with a Python that has torch and transformers (never imported by the tests):

  /work/peer_venv/bin/python bench/hf_interop_fixtures.py

to regenerate (the same seed gives the same files). It writes:

* `hf_tokenizer/`: a 30-token uncased WordPiece tokenizer as `BertTokenizer.save_pretrained` writes it
  (`tokenizer.json`, `tokenizer_config.json`), and its `vocab.txt`.
* `hf_tensors.npz`: every tensor of every model, float32, each stored once: `shared/<name>` for the encoder
  (all models share one), `<head>/<name>` for a head's own.
* `hf_models.json`: `configs`: per case (`<head>_<activation>`: heads `base`, `pretraining`, `classification`,
  `token_classification`, `question_answering`, `multiple_choice`; activations `gelu` (exact erf) and
  `gelu_new` (tanh)) the `config.json` text save_pretrained wrote; `tensors`: per head, the names of the
  tensors in the `model.safetensors` it wrote (each in the npz as `shared/<name without bert.>` when it is the
  shared encoder's, else `<head>/<name>`). `tests/interop/hf_fixtures.py` rebuilds the folders from them.
* `hf_outputs.npz`: the inputs (`input_ids`, `attention_mask`, `token_type_ids` [2, 8]; `choice_*` [2, 3, 8]) and
  the outputs in float32: `base_<activation>/hidden` (last hidden states [2, 8, 32]) and `/pooled` [2, 32], and
  per case the head's `<case>/logits`, `start_logits`, `end_logits`, `prediction_logits`,
  `seq_relationship_logits`.

Size: about 130 KB (hidden 32, 2 layers, 4 heads, intermediate 64, vocabulary 30, 16 positions).
"""
import json
import os
import tempfile

import numpy as np
import safetensors.numpy
import torch
import transformers

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "interop", "data")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "is", "of", "and", "to", "in", "it", "that",
         "was", "he", "for", "on", "are", "with", "as", "his", "they", "at", "be", "this", "##s", "##ed", "##ing", "."]
CONFIG = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
HEADS = {
    "base": (transformers.BertModel, {}),
    "pretraining": (transformers.BertForPreTraining, {}),
    "classification": (transformers.BertForSequenceClassification,
                       {"id2label": {0: "negative", 1: "neutral", 2: "positive"}}),
    "token_classification": (transformers.BertForTokenClassification,
                             {"id2label": {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}}),
    "question_answering": (transformers.BertForQuestionAnswering, {}),
    "multiple_choice": (transformers.BertForMultipleChoice, {}),
}
ACTIVATIONS = ("gelu", "gelu_new")
BATCH, SEQ, CHOICES, PADDED = 2, 8, 3, 3


def randomize(model, generator):
    """Every parameter random (LayerNorm weights about 1, others about 0.2): a swapped or untransposed tensor
    changes the outputs."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * 0.2
            parameter.copy_(1.0 + noise / 2 if "LayerNorm.weight" in name else noise)


def inputs(generator):
    input_ids = torch.randint(5, len(VOCAB), (BATCH, SEQ), generator=generator)
    input_ids[:, 0] = 2  # [CLS]
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, SEQ - PADDED:] = 0
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, SEQ // 2:] = 1
    token_type_ids *= attention_mask
    return input_ids, attention_mask, token_type_ids


def main():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    os.makedirs(os.path.join(DATA_DIR, "hf_tokenizer"), exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = os.path.join(DATA_DIR, "hf_tokenizer", "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as writer:
            writer.write("".join(token + "\n" for token in VOCAB))
        transformers.BertTokenizer(vocab_file, do_lower_case=True).save_pretrained(os.path.join(DATA_DIR,
                                                                                                "hf_tokenizer"))

        encoder = transformers.BertModel(transformers.BertConfig(**CONFIG))
        randomize(encoder, generator)
        shared = {name: value.numpy().copy() for name, value in encoder.state_dict().items()}
        tensors = {f"shared/{name}": value for name, value in shared.items()}
        configs, names_of_head, outputs = {}, {}, {}
        input_ids, attention_mask, token_type_ids = inputs(generator)
        choice_ids = torch.stack([inputs(generator)[0] for _ in range(CHOICES)], dim=1)  # [B, C, S]
        choice_mask = torch.ones_like(choice_ids)
        choice_mask[-1, :, SEQ - PADDED:] = 0
        choice_ids[choice_mask == 0] = 0
        choice_types = torch.zeros_like(choice_ids)
        choice_types[..., SEQ // 2:] = 1
        choice_types *= choice_mask
        outputs.update(input_ids=input_ids.numpy(), attention_mask=attention_mask.numpy(),
                       token_type_ids=token_type_ids.numpy(), choice_input_ids=choice_ids.numpy(),
                       choice_attention_mask=choice_mask.numpy(), choice_token_type_ids=choice_types.numpy())
        head_state = {}
        for head, (model_class, extra) in HEADS.items():
            for activation in ACTIVATIONS:
                case = f"{head}_{activation}"
                model = model_class(transformers.BertConfig(**CONFIG, hidden_act=activation, **extra)).eval()
                if head not in head_state:
                    randomize(model, generator)
                    head_state[head] = {name: value.clone() for name, value in model.state_dict().items()}
                model.load_state_dict(head_state[head])
                encoder_of = model if head == "base" else model.bert
                encoder_of.load_state_dict({name: torch.from_numpy(value) for name, value in shared.items()
                                            if name in encoder_of.state_dict()})
                folder = os.path.join(scratch, case)
                model.save_pretrained(folder)
                saved = safetensors.numpy.load_file(os.path.join(folder, "model.safetensors"))
                for name, value in saved.items():
                    bare = name.removeprefix("bert.")
                    if bare in shared:
                        assert np.array_equal(shared[bare], value), name
                    else:
                        key = f"{head}/{name}"
                        assert key not in tensors or np.array_equal(tensors[key], value), key
                        tensors[key] = value
                assert names_of_head.setdefault(head, sorted(saved)) == sorted(saved), case
                with open(os.path.join(folder, "config.json"), encoding="utf-8") as reader:
                    configs[case] = reader.read()
                with torch.no_grad():
                    if head == "multiple_choice":
                        result = model(input_ids=choice_ids, attention_mask=choice_mask, token_type_ids=choice_types,
                                       output_hidden_states=True)
                    else:
                        result = model(input_ids=input_ids, attention_mask=attention_mask,
                                       token_type_ids=token_type_ids, output_hidden_states=True)
                if head == "base":
                    outputs[f"{case}/hidden"] = result.last_hidden_state.numpy()
                    outputs[f"{case}/pooled"] = result.pooler_output.numpy()
                for key in ("logits", "start_logits", "end_logits", "prediction_logits", "seq_relationship_logits"):
                    if getattr(result, key, None) is not None:
                        outputs[f"{case}/{key}"] = getattr(result, key).numpy()
    np.savez(os.path.join(DATA_DIR, "hf_tensors.npz"), **{key: value.astype(np.float32)
                                                          for key, value in sorted(tensors.items())})
    np.savez(os.path.join(DATA_DIR, "hf_outputs.npz"), **outputs)
    with open(os.path.join(DATA_DIR, "hf_models.json"), "w", encoding="utf-8") as writer:
        json.dump({"transformers_version": transformers.__version__, "configs": configs, "tensors": names_of_head},
                  writer, sort_keys=True)
        writer.write("\n")
    print(f"wrote {DATA_DIR}: {len(configs)} models, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
