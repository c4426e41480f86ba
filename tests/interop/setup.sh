#!/usr/bin/env bash
# Build the peer clients' virtualenvs for tests/interop (installs from the package index; the
# tests themselves only talk to the simulator on loopback). Idempotent: a venv whose stamp
# matches its requirements file is kept.
#   .venv-ccxt  ccxt 4.5.90 with the default python3 (its exact pins clash with constraints.txt)
#   .venv-sdk   paradex-py 0.8.2 with Python 3.10 from pyenv, when pyenv has one (its Rust
#               dependency has a Linux wheel for CPython 3.10 only); skipped, saying so, otherwise
set -euo pipefail
cd "$(dirname "$0")/../.."

build() {  # build VENV INTERPRETER REQUIREMENTS
  local venv="$1" interp="$2" reqs="$3" stamp="$1/.installed"
  local want; want="$(sha256sum "${reqs}" | cut -d' ' -f1) $("${interp}" -c 'import sys; print(sys.version.split()[0])')"
  if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    echo "interop: ${venv} is up to date"
    return
  fi
  echo "interop: building ${venv} with ${interp} from ${reqs}"
  rm -rf "${venv}"
  "${interp}" -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${reqs}"
  echo "${want}" > "${stamp}"
}

build .venv-ccxt "${PYTHON:-python3}" tests/interop/requirements-ccxt.txt

pyenv_root="$(pyenv root 2>/dev/null || echo "${HOME}/.pyenv")"
py310="$(ls -d "${pyenv_root}"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -1 || true)"
if [[ -n "${py310}" ]]; then
  build .venv-sdk "${py310}" tests/interop/requirements-sdk.txt
else
  echo "interop: no Python 3.10 under ${pyenv_root}/versions: .venv-sdk not built (the SDK tests will skip)"
fi
