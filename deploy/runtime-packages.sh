#!/usr/bin/env bash
# runtime-packages.sh BINARY...: the packages that a runtime image must install for BINARY to run,
# one a line, sorted: the dpkg packages that own the shared libraries the binaries name directly
# (their DT_NEEDED entries, resolved to files by ldd); apt brings those packages' own dependencies.
# Libraries that no package owns (the CUDA toolkit unpacked in /usr/local/cuda) are reported on
# stderr and left out: NVIDIA's runtime image already holds them.
# Used by the container recipes at build time and by tests/deploy against deploy/runtime-packages.txt.
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: runtime-packages.sh BINARY..." >&2
  exit 2
fi

# dpkg records paths as the package shipped them; with a merged /usr, ldd may name the other one.
owner() {
  local path=$1 candidates=("$1")
  candidates+=("$(readlink -f "$path")")
  case "$path" in
    /usr/*) candidates+=("${path#/usr}") ;;
    *) candidates+=("/usr$path") ;;
  esac
  local c
  for c in "${candidates[@]}"; do
    if out=$(dpkg-query -S "$c" 2>/dev/null); then
      # "libfoo1:amd64: /usr/lib/..." -> libfoo1 (the architecture qualifier dropped).
      echo "${out%%: *}" | head -n1 | sed 's/:[a-z0-9_]*$//'
      return 0
    fi
  done
  return 1
}

for binary in "$@"; do
  if [ ! -x "$binary" ]; then
    echo "runtime-packages: $binary: not an executable file" >&2
    exit 2
  fi
  # name => path for every library the loader would map.
  declare -A paths=()
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] && paths[$name]=$path
  done < <(ldd "$binary")
  while read -r needed; do
    path=${paths[$needed]:-}
    if [ -z "$path" ] || [ "$path" = "not" ]; then
      echo "runtime-packages: $binary needs $needed, which ldd cannot find" >&2
      exit 1
    fi
    owner "$path" || echo "runtime-packages: $needed ($path) belongs to no package; skipped" >&2
  done < <(objdump -p "$binary" | awk '$1 == "NEEDED" {print $2}')
  unset paths
done | sort -u
