#!/usr/bin/env bash
# Run ansible-test on a copy of this repository laid out as ansible_collections/joelclaw/macmini,
# which ansible-test requires. Usage: ansible_test.sh sanity|units [extra ansible-test args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# A fresh directory per run, so parallel runs never share (or delete) each other's copy.
if [ -n "${ANSIBLE_TEST_BUILD_DIR:-}" ]; then
  build_root="$ANSIBLE_TEST_BUILD_DIR"
else
  build_root=$(mktemp -d "${TMPDIR:-/tmp}/joelclaw-ansible-test.XXXXXX")
  trap 'rm -rf "$build_root"' EXIT
fi
build="$build_root/ansible_collections/joelclaw/macmini"
bin="${VENV:-$root/.venv}/bin"
cmd="${1:?usage: $0 sanity|units [args]}"; shift

# Only what git knows about (tracked or new, not ignored): the collection as it would ship.
rm -rf "$build" && mkdir -p "$build"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r ls -d 2>/dev/null | tr '\n' '\0') \
  | tar -C "$root" --null -T - -cf - | tar -C "$build" -xf -

# Offline pip bootstrap for the venvs ansible-test creates (see scripts/get_pip_offline.py),
# seeded under the pip version this ansible-test release asks for.
pip_version=$("$bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(type("P", (), {"version": "3.11"})())["pip"])')
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/scripts/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

cd "$build"
case "$cmd" in
  sanity)
    "$bin/ansible-test" sanity --venv --python 3.11 --requirements --color no "$@" ;;
  units)
    "$bin/ansible-test" units --local --python 3.11 --color no "$@" ;;
  *)
    echo "usage: $0 sanity|units" >&2; exit 2 ;;
esac
