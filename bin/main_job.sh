#!/usr/bin/env bash
# The main job: set-up (bin/setup.sh), then MRPC fine-tuning of the MiniLM checkpoint on the local
# assets with the original recipe (lr 2e-5, batch 32, 3 epochs, max_seq_length 128), evaluation on dev,
# prediction on test and a SavedModel export for TF Serving. Output: out/mrpc/ (eval_results.txt,
# test_results.tsv, model.ckpt-*, export/<version>/). Extra arguments go to run_classifier.py, e.g.
#   bash bin/main_job.sh --num_train_epochs=1
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BERT_TF_VENV:-$root/.venv}
shared=${BERT_TF_SHARED:-$root/../shared}
BERT_TF_VENV=$venv bash "$root/bin/setup.sh" test
cd "$root"
out=${BERT_TF_OUT:-$root/out/mrpc}
"$venv/bin/python" run_classifier.py \
  --task_name=MRPC \
  --do_train --do_eval --do_predict \
  --data_dir="$shared/data/glue/MRPC" \
  --bert_dir="$shared/checkpoints/minilm_l6_h384_uncased" \
  --do_lower_case=true \
  --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
  --group_by_length --seed=1 \
  --output_dir="$out" --export_dir="$out/export" "$@"
# run_classifier.py printed the metrics (also in $out/eval_results.txt) and where its files went.
echo "main job done: $out"
