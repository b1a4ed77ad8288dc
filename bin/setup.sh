#!/usr/bin/env bash
# Creates the project's virtual environment (default .venv, or $BERT_TF_VENV) and installs bert_tf into it
# with the extras given as arguments (default: test). Safe to run again: it only installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BERT_TF_VENV:-$root/.venv}
extras=${1:-test}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
echo "setup: pip install -e '.[$extras]' into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extras]" 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
"$venv/bin/python" -c "import bert_tf, tensorflow, tensorflow_text, keras" 2>/dev/null \
  || { echo "setup: bert_tf did not install into $venv" >&2; exit 1; }
