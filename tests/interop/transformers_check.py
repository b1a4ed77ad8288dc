"""Run by `test_transformers_peer.py` with a Python that has torch and transformers (`$BERT_TF_PEER_PYTHON`),
never imported by the tests: loads each Hugging Face folder that this project wrote with `AutoTokenizer` and
`AutoModelFor...`, runs it on the inputs this project's model ran on, and prints one JSON object: per case, the
largest absolute difference of each output from ours, and the token ids transformers' tokenizer gives a sentence.

  python transformers_check.py <request.json>

The request: {"inputs": <npz with input_ids, input_mask, segment_ids, choice_*>, "sentence": str,
"cases": {case: {"folder": str, "head": str, "outputs": <npz of our outputs>}}}.
"""
import json
import sys

import numpy as np
import torch
import transformers

AUTO_CLASSES = {
    "base": transformers.AutoModel,
    "pretraining": transformers.AutoModelForPreTraining,
    "classification": transformers.AutoModelForSequenceClassification,
    "token_classification": transformers.AutoModelForTokenClassification,
    "question_answering": transformers.AutoModelForQuestionAnswering,
    "multiple_choice": transformers.AutoModelForMultipleChoice,
}


def run_case(case, inputs):
    model = AUTO_CLASSES[case["head"]].from_pretrained(case["folder"]).eval()
    prefix = "choice_" if case["head"] == "multiple_choice" else ""
    arguments = {"input_ids": inputs[prefix + "input_ids"], "attention_mask": inputs[prefix + "input_mask"],
                 "token_type_ids": inputs[prefix + "segment_ids"]}
    with torch.no_grad():
        result = model(**{key: torch.from_numpy(value.astype(np.int64)) for key, value in arguments.items()},
                       output_hidden_states=True)
    ours = np.load(case["outputs"])
    theirs = {"hidden": result.hidden_states[-1], "pooled": getattr(result, "pooler_output", None)}
    for key in ("logits", "start_logits", "end_logits", "seq_relationship_logits"):
        theirs[key] = getattr(result, key, None)
    if getattr(result, "prediction_logits", None) is not None:
        theirs["prediction_log_probs"] = torch.log_softmax(result.prediction_logits, dim=-1)
    differences = {}
    for key in ours.files:
        if theirs.get(key) is None:
            differences[key] = None
        else:
            differences[key] = float(np.abs(theirs[key].numpy() - ours[key]).max())
    return {"differences": differences, "architectures": model.config.architectures,
            "hidden_act": model.config.hidden_act}


def main():
    request = json.load(open(sys.argv[1], encoding="utf-8"))
    inputs = dict(np.load(request["inputs"]))
    results = {name: run_case(case, inputs) for name, case in request["cases"].items()}
    first = next(iter(request["cases"].values()))["folder"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(first)
    results["_tokenizer"] = {"ids": tokenizer(request["sentence"])["input_ids"], "class": type(tokenizer).__name__}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
