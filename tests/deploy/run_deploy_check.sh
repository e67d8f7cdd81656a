#!/usr/bin/env bash
# run_deploy_check.sh VENV TESSERAD TESSERA: runs deploy_check.py with the virtualenv that
# scripts/install-deps.sh fills (Helm's engine, kubernetes-validate, yamllint), or skips (77)
# saying how to get it.
venv=$1; shift
if [ ! -x "$venv/bin/python" ] ||
   ! "$venv/bin/python" -c "import helm_python, kubernetes_validate, yamllint, jsonschema" 2>/dev/null; then
  echo "SKIPPED: no helm-python-sdk / kubernetes-validate / yamllint in $venv;" \
       "run scripts/install-deps.sh (or set TESSERA_PYTHON_VENV)"
  exit 77
fi
exec "$venv/bin/python" "$(dirname "$0")/deploy_check.py" "$@"
