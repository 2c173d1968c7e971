# Sourced by scripts/serve and scripts/test: make .venv if it is missing.
#
# Which interpreter: $CLAYBRIDGE_PYTHON when set; else the operating system's own
# /usr/bin/python3 when it is 3.11 or newer and can make a virtual environment; else
# python3 on PATH. Why the system's first: distributions build CPython with PGO and LTO
# and link the interpreter statically, where a default pyenv build (what python3 on
# PATH often is) has neither, and Claybridge's ingest path is interpreter-bound (README,
# "Benchmarks": the same code on the same machine did 0.220x the bare app on Debian's
# build against 0.195x on pyenv's).
make_venv() {
  [ -x .venv/bin/python ] && return
  local python="${CLAYBRIDGE_PYTHON:-}"
  if [ -z "$python" ]; then
    python=python3
    if /usr/bin/python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' \
      2>/dev/null; then
      python=/usr/bin/python3
    fi
  fi
  echo "making .venv with $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))" >&2
  "$python" -m venv .venv
}
