#!/usr/bin/env bash
# The test command: sets up the environment (bin/setup.sh), runs the whole suite under the TensorFlow
# backend, then the model parity tests once more under Keras' JAX backend.
# Needs the shared assets in ../shared (or $BERT_TF_SHARED); tests that need them skip without them,
# except under CI=true where they fail.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BERT_TF_VENV:-$root/.venv}
BERT_TF_VENV=$venv bash "$root/bin/setup.sh" test,jax
cd "$root"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
echo "== pytest (KERAS_BACKEND=tensorflow)"
KERAS_BACKEND=tensorflow "$venv/bin/python" -m pytest -q tests "$@"
echo "== pytest tests/test_modeling.py (KERAS_BACKEND=jax)"
KERAS_BACKEND=jax "$venv/bin/python" -m pytest -q tests/test_modeling.py
