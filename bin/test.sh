#!/usr/bin/env bash
# The test command: sets up the environment (bin/setup.sh), runs the linter (ruff, settings in ruff.toml),
# the whole suite under the TensorFlow backend, then the model tests once more under Keras' JAX backend.
# Arguments go to the first pytest run, e.g. `bash bin/test.sh -m "not slow"` for the quick loop.
# Needs the shared assets in ../shared (or $BERT_TF_SHARED); tests that need them skip without them,
# except under CI=true where they fail.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BERT_TF_VENV:-$root/.venv}
BERT_TF_VENV=$venv bash "$root/bin/setup.sh" test,jax
cd "$root"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
echo "== ruff check"
"$venv/bin/ruff" check "$root"
echo "== pytest (KERAS_BACKEND=tensorflow)"
KERAS_BACKEND=tensorflow "$venv/bin/python" -m pytest -q tests "$@"
echo "== pytest tests/modeling (KERAS_BACKEND=jax)"
KERAS_BACKEND=jax "$venv/bin/python" -m pytest -q tests/modeling
