#!/bin/sh
# Runs the core, adapter and integration suites on Node 22 and 24, with the Node binaries that
# test/runtimes installs from npm (`pnpm test` runs everything on the machine's own Node, 20 or later).
# Left out, as they do not depend on the Node release: the browser page (test/e2e), the package
# tarballs (test/packaging), the README's text (test/docs), the shell scripts (test/scripts) and the
# benchmark smoke test.
#
#   pnpm test:node-versions                                   Node 22 and 24
#   NODE_VERSIONS=24 pnpm test:node-versions test/streaming   one version, a vitest filter
#
# Child processes that tests start by name (`node`, `npx pnpm ... start`) get the same Node: its
# folder comes first on PATH.
set -eu
cd "$(dirname "$0")/.."
versions="${NODE_VERSIONS:-22 24}"
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
    --project core --project hono --project express --project fake-anthropic --project integration \
    --exclude 'test/e2e/**' --exclude 'test/packaging/**' --exclude 'test/docs/**' --exclude 'test/scripts/**' \
    --exclude 'test/bench-smoke.test.ts' "$@"; then
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
