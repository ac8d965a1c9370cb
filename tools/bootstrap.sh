#!/usr/bin/env bash
# Set up .venv with initscope and its test tools. Safe to run again (it only adds what is missing).
#   bash tools/bootstrap.sh
# (Windows, or anywhere without bash: python tools/bootstrap.py does the same.)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do command -v "$c" >/dev/null && { PY=$c; break; }; done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11 not found" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

# torch: prefer the 2.13 release, which on our workplace machines is a CPU build on local disk
# (seconds, not a multi-GB CUDA download). Elsewhere pip fetches it from PyPI; pyproject keeps a range.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pip install "torch==2.13.*" || pip install "torch>=2.2,<3"
fi
pip install -e ".[test]"

# Qt's shared libraries on a bare Linux (Debian/Ubuntu): installed when we may, named when we may not.
if [ "$(uname -s)" = Linux ] && command -v ldconfig >/dev/null; then
  need=()
  # read the cache once: `ldconfig -p | grep -q` under pipefail fails at random (grep exits at the first
  # match, ldconfig dies of SIGPIPE, and the pipeline reports a missing library)
  libs=$(ldconfig -p 2>/dev/null || true)
  for pair in libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 \
              libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0 \
              libxcb-cursor.so.0:libxcb-cursor0 libxkbcommon-x11.so.0:libxkbcommon-x11-0 \
              libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1; do
    [[ "$libs" == *"${pair%%:*}"* ]] || need+=("${pair##*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "bootstrap: Qt needs these system packages: sudo apt-get install ${need[*]}" >&2
    fi
  fi
fi
echo "bootstrap: ready ($(.venv/bin/python -c 'import torch, PySide6; print("torch", torch.__version__, "/ PySide6", PySide6.__version__)'))"
