#!/bin/sh
# One qnx-hil CI job (written by `hil init`, qnx-hil @@version): the same script for GitLab
# (.gitlab/qnx-hil.yml), GitHub (.github/workflows/qnx-hil.yml) and Jenkins (ci/qnx-hil.groovy).
# It runs on a fresh runner, as root (a Debian image: no sudo there) or as a user with sudo: it
# installs python3-venv if needed, qnx-hil into .venv, the host packages its targets need
# (hil host install, for these targets only), checks lab targets (hil target check) and runs
# hil nightly on them.
#
# Settings (environment variables; the CI file sets them):
#   QNX_HIL_SOURCE    where qnx-hil comes from (one variable):
#                       pypi (default)           the package index pip is configured for: qnx-hil==@@version
#                       https://host/.../simple  an internal package index: qnx-hil==@@version from there
#                       path/to/qnx_hil-*.whl    a wheel file, e.g. an artifact of an earlier job
#   QNX_HIL_EXTRAS    pip extras the targets need, comma-separated: labgrid, coverage (default none)
#   HIL_TARGETS       this job's targets, space-separated: names, label:LABEL, .toml paths (required)
#   HIL_CHECK         1: run `hil target check` first (lab boards: a board away ends the job as
#                     infrastructure, exit 3, before any test)
#   HIL_NIGHTLY_ARGS  more arguments for hil nightly, e.g. --coverage
#   HIL_REPORTS       the report folder (default reports: reports/<UTC time>/junit.xml, coverage/)
# Exit status: hil nightly's: 0 passed, 1 a test failed, 2 bad input, 3 only the infrastructure
# failed (also: this runner lacks what its targets need, or a board is away).
set -eu

version="@@version"
say() { printf 'qnx-hil-job: %s\n' "$*" >&2; }
infrastructure() { say "$*"; exit 3; }

[ -n "${HIL_TARGETS:-}" ] || { say "HIL_TARGETS is empty: name this job's targets (e.g. 'local qemu')"; exit 2; }

# root: no sudo needed (Debian images have none); otherwise sudo, when there is one
if [ "$(id -u)" = 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  as_root="none"
fi

# Python >= 3.11 with venv and pip; Debian/Ubuntu: python3-venv
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
  [ "$as_root" != none ] || infrastructure "python3 (>= 3.11) with venv is missing, and this user is not root and has no sudo to install it"
  say "installing python3 and python3-venv"
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv ca-certificates >/dev/null
fi

extras=""
[ -z "${QNX_HIL_EXTRAS:-}" ] || extras="[${QNX_HIL_EXTRAS}]"
source="${QNX_HIL_SOURCE:-pypi}"
case "$source" in
  pypi) requirement="qnx-hil${extras}==${version}" ;;
  http://* | https://*) requirement="qnx-hil${extras}==${version}"; export PIP_INDEX_URL="$source" ;;
  *.whl)
    [ -f "$source" ] || { say "QNX_HIL_SOURCE=$source: no such wheel file here ($(pwd))"; exit 2; }
    requirement="${source}${extras}" ;;
  *) say "QNX_HIL_SOURCE=$source: use pypi, an index URL (https://.../simple) or a .whl file"; exit 2 ;;
esac
python3 -m venv .venv
say "pip install ${requirement}"
.venv/bin/pip install -q --disable-pip-version-check "$requirement"

set --
for target in $HIL_TARGETS; do set -- "$@" --target "$target"; done
# what these targets need on this host (hil host check lists it); apt-get as root or through sudo
if [ "$as_root" = none ]; then
  .venv/bin/hil host check "$@" || infrastructure "this runner lacks what ${HIL_TARGETS} need (above), and this user is not root and has no sudo to install it"
else
  .venv/bin/hil host install "$@" || infrastructure "this runner cannot provide what ${HIL_TARGETS} need (above)"
fi
# the public QEMU targets' images (built once, then from the cache: XDG_CACHE_HOME/qnx-hil)
for target in $HIL_TARGETS; do
  case "$target" in
    qemu | qemu-arm64) .venv/bin/hil image build --target "$target" >/dev/null || infrastructure "the $target image could not be built (above)" ;;
  esac
done
if [ "${HIL_CHECK:-0}" = 1 ]; then
  # every problem of each definition at once; a board away is infrastructure (exit 3), a bad definition 2
  .venv/bin/hil target check "$@"
fi
# shellcheck disable=SC2086  # HIL_NIGHTLY_ARGS are words
exec .venv/bin/hil nightly --reports "${HIL_REPORTS:-reports}" "$@" ${HIL_NIGHTLY_ARGS:-}
