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

# Each library as ldd resolves it, plus the names dpkg may know it by: with a merged /usr, ldd
# and dpkg can name the same file differently.
candidates() {
  local path=$1
  echo "$path"
  readlink -f "$path"
  case "$path" in
    /usr/*) echo "${path#/usr}" ;;
    *) echo "/usr$path" ;;
  esac
}

needed_libs=()   # "soname path" of every DT_NEEDED entry of every binary
for binary in "$@"; do
  if [ ! -x "$binary" ]; then
    echo "runtime-packages: $binary: not an executable file" >&2
    exit 2
  fi
  declare -A paths=()  # soname => path, for every library the loader would map
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] && paths[$name]=$path
  done < <(ldd "$binary")
  while read -r needed; do
    path=${paths[$needed]:-}
    if [ -z "$path" ] || [ "$path" = "not" ]; then
      echo "runtime-packages: $binary needs $needed, which ldd cannot find" >&2
      exit 1
    fi
    needed_libs+=("$needed $path")
  done < <(objdump -p "$binary" | awk '$1 == "NEEDED" {print $2}')
  unset paths
done

# One dpkg query for every candidate name (one per library is slow): "pkg:arch: /path" lines.
mapfile -t all_candidates < <(for e in "${needed_libs[@]}"; do candidates "${e#* }"; done | sort -u)
declare -A owner_of=()
while IFS= read -r line; do
  pkg=${line%%: *}
  for f in ${line#*: }; do owner_of[${f%,}]=${pkg%%:*}; done
done < <(dpkg-query -S "${all_candidates[@]}" 2>/dev/null || true)

for e in "${needed_libs[@]}"; do
  found=""
  while read -r c; do
    if [ -n "${owner_of[$c]:-}" ]; then found=${owner_of[$c]}; break; fi
  done < <(candidates "${e#* }")
  if [ -n "$found" ]; then
    echo "$found"
  else
    echo "runtime-packages: ${e% *} (${e#* }) belongs to no package; skipped" >&2
  fi
done | sort -u
