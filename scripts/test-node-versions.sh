#!/bin/sh
# Runs the core, adapter and fake's unit suites and the integration suites that exercise Node itself
# (HTTP, fetch, Web streams, timers, AbortSignal) on Node 22 and 24, with the Node binaries that
# test/runtimes installs from npm (`pnpm test` runs everything on the machine's own Node, 20 or later).
# Left out, as they do not depend on the Node release: the examples' own tests (test/examples), the
# browser page (test/e2e), the package tarballs (test/packaging), the README's text (test/docs), the
# shell scripts (test/scripts) and the benchmark smoke test. Left out to keep CI well under 30 minutes
# on two cores: the soaks (test/soak, about 2 minutes of 10 000-request, memory and long-stream runs,
# whose thresholds also fail on a loaded machine); they run on Node 20 with `pnpm test`. The suites
# are chosen by path: vitest's --exclude does not reach projects.
#
#   pnpm test:node-versions                                   Node 22 and 24
#   NODE_VERSIONS=24 pnpm test:node-versions test/streaming   one version, other paths
#
# Child processes that tests start by name (`node`, `npx pnpm ... start`) get the same Node: its
# folder comes first on PATH.
set -eu
cd "$(dirname "$0")/.."
versions="${NODE_VERSIONS:-22 24}"
if [ "$#" -eq 0 ]; then
  set -- packages/core/ packages/express/ packages/hono/ packages/fake-anthropic/ \
    test/guarded/ test/streaming/ test/hardening/ test/faults/ test/input/ test/security/ test/smoke/
fi
failed=""
for version in $versions; do
  bin="$PWD/test/runtimes/node_modules/node$version/bin"
  if [ ! -x "$bin/node" ]; then
    echo "test-node-versions: no Node $version in $bin; run pnpm install" >&2
    exit 1
  fi
  echo "== Node $("$bin/node" --version)"
  started=$(date +%s)
  # Every version runs even when one fails; the script fails at the end if any did.
  if PATH="$bin:$PATH" "$bin/node" node_modules/vitest/vitest.mjs run \
    --project core --project hono --project express --project fake-anthropic --project integration "$@"; then
    echo "== Node $("$bin/node" --version): passed in $(($(date +%s) - started)) s"
  else
    echo "== Node $("$bin/node" --version): FAILED after $(($(date +%s) - started)) s"
    failed="$failed $version"
  fi
done
if [ -n "$failed" ]; then
  echo "test-node-versions: failed on Node$failed" >&2
  exit 1
fi
