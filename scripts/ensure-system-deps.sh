#!/bin/sh
# The system packages the test suite needs, installed when missing: run by `pnpm test` and `pnpm check`
# before anything else, so the README's test command works on a fresh Debian machine with only Node and npm.
#
# Each requirement is PATH=DEBIAN_PACKAGE: the file the tests use, and the Debian package that provides it.
# With no arguments the suite's own list is checked; arguments replace it (the script's test uses this).
#
# Missing ones are installed with apt-get when we are root (or have password-less sudo) and apt-get exists;
# otherwise the script stops at once with the packages and the command to install them, and exits 1.
set -eu

if [ "$#" -eq 0 ]; then
  # test/e2e/demo-page.test.ts drives Debian's Chromium (playwright-core downloads no browser);
  # packages/redis and the fleet tests start their own redis-server instances.
  set -- /usr/bin/chromium=chromium /usr/bin/redis-server=redis-server
fi

missing=""
for requirement in "$@"; do
  file=${requirement%%=*}
  package=${requirement#*=}
  if [ ! -x "$file" ]; then
    case " $missing " in
      *" $package "*) ;;
      *) missing="${missing:+$missing }$package" ;;
    esac
  fi
done
[ -z "$missing" ] && exit 0

as_root=""
if [ "$(id -u)" = "0" ]; then
  as_root="env"
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  as_root="sudo -n"
fi

if [ -z "$as_root" ] || ! command -v apt-get >/dev/null 2>&1; then
  {
    echo "The tests need these system packages, missing here: $missing"
    echo "Install them (Debian or Ubuntu, as root), then run the command again:"
    echo "  apt-get update && apt-get install -y $missing"
  } >&2
  exit 1
fi

echo "Installing the system packages the tests need: $missing (apt-get, once)"
log=$(mktemp)
# shellcheck disable=SC2086 # $missing is a space-separated list of package names
if ! { $as_root DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
  $as_root DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  rm -f "$log"
  echo "apt-get could not install: $missing" >&2
  exit 1
fi
rm -f "$log"

for requirement in "$@"; do
  file=${requirement%%=*}
  if [ ! -x "$file" ]; then
    echo "apt-get installed ${requirement#*=}, but $file is still missing" >&2
    exit 1
  fi
done
