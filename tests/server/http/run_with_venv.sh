#!/usr/bin/env bash
# run_with_venv.sh VENV SCRIPT ARGS...: runs a Python test with the virtualenv's interpreter, or
# skips (77) saying how to make the virtualenv when it is missing.
venv=$1; shift
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
  echo "SKIPPED: no OpenAI SDK in $venv; run scripts/install-deps.sh (or set TESSERA_PYTHON_VENV)"
  exit 77
fi
exec "$venv/bin/python" "$@"
