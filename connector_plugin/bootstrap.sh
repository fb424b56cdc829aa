#!/usr/bin/env bash
# One entry point for the README's two commands:
#   bash connector_plugin/bootstrap.sh demo   -> set up, then run the demo
#   bash connector_plugin/bootstrap.sh test   -> set up, lint (ruff), then run the whole test suite
# Setup is idempotent: it creates (or reuses) .venv with Python >= 3.12, installs the project with its extras, and
# installs Debian's prometheus/alertmanager/promtool when they are missing and we may use apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="${INVENTORY_GUARD_VENV:-$ROOT/.venv}"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

py_ok() { "$@" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    # Hummingbot 20260922 and its native dependencies build on Python 3.12 (coincurve fails to build on 3.13), so
    # 3.12 is preferred wherever it is found; a newer Python is the last resort.
    if [ -n "${PYTHON:-}" ]; then
        py_ok "$PYTHON" && { echo "$PYTHON"; return; }
        say "PYTHON=$PYTHON is not a working Python >= 3.12"; exit 2
    fi
    if command -v python3.12 >/dev/null 2>&1 && py_ok python3.12; then command -v python3.12; return; fi
    # pyenv: its shims only work with a version selected, so ask pyenv for an installed 3.12 (then 3.13+).
    if command -v pyenv >/dev/null 2>&1; then
        local v p
        for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -V -r) \
                 $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[3-9])(\.[0-9]+)?$' | sort -V); do
            p="$(pyenv root)/versions/$v/bin/python3"
            if py_ok "$p"; then echo "$p"; return; fi
        done
    fi
    local c
    for c in python3 python3.13; do
        if command -v "$c" >/dev/null 2>&1 && py_ok "$c"; then command -v "$c"; return; fi
    done
    say "no Python >= 3.12 found. Install Python 3.12 (e.g. 'apt-get install python3.12' or 'pyenv install 3.12')"
    say "or point PYTHON at one: PYTHON=/path/to/python3.12 bash connector_plugin/bootstrap.sh $MODE"
    exit 2
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && py_ok "$VENV/bin/python"; then return; fi
    local py
    py=$(find_python)
    say "creating $VENV with $py ($("$py" --version 2>&1))"
    "$py" -m venv "$VENV"
}

ensure_packages() {
    local extras="$1" stamp="$VENV/.inventory-guard-$1"
    # Reinstall when pyproject.toml changed since the last install of these extras.
    if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then return; fi
    say "installing inventory-guard[$extras] into $VENV (the first run downloads and builds Hummingbot: several minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[$extras]"
    touch "$stamp"
}

ensure_monitoring_binaries() {
    local missing=()
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
    command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
    command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
    [ ${#missing[@]} -eq 0 ] && return
    local pkgs
    pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing $pkgs and no apt-get: install them by hand (monitoring tests will fail without them)"; return
    fi
    say "installing Debian packages: $pkgs"
    $sudo apt-get update -qq
    # The packages ship services that would start on real systems; nothing starts here, the tests start their own.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
}

lint() {
    # ruff and mypy, configured in pyproject.toml: any finding fails the run before the tests start.
    say "ruff check"
    if ! "$VENV/bin/python" -m ruff check --quiet .; then
        say "ruff reported the findings above: fix them ('ruff check --fix' applies the mechanical ones); failing"
        exit 1
    fi
    say "mypy"
    if ! "$VENV/bin/python" -m mypy; then
        say "mypy reported the type errors above: fix them; failing"
        exit 1
    fi
}

MODE="${1:-}"
case "$MODE" in
    demo)
        ensure_venv
        ensure_packages "hummingbot"
        shift
        exec "$VENV/bin/inventory-guard" demo "$@"
        ;;
    test)
        ensure_venv
        ensure_packages "hummingbot,test"
        ensure_monitoring_binaries
        lint
        shift
        # pytest exits 5 when it collected nothing: that is a failure here, never a pass.
        set +e
        "$VENV/bin/python" -m pytest "$@"
        rc=$?
        set -e
        if [ "$rc" -eq 5 ]; then say "pytest collected no tests: failing"; exit 1; fi
        exit "$rc"
        ;;
    *)
        echo "usage: bash connector_plugin/bootstrap.sh demo|test [args...]" >&2
        exit 2
        ;;
esac
