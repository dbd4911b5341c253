#!/usr/bin/env bash
# Fetches llama.cpp's collection of real chat templates (models/templates/*.jinja, as the
# models' own tokenizer_config.json files have them) once into the cache, from the sdist of
# llama-cpp-python on PyPI, which vendors llama.cpp. Never committed: the tests fetch them.
# Prints the directory.
set -euo pipefail
home="${PISTON_HOME:-$HOME/.cache/piston}"
dir="$home/llama.cpp-templates"
if [ ! -s "$dir/meta-llama-Llama-3.1-8B-Instruct.jinja" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetching llama.cpp's chat templates (the llama-cpp-python sdist, about 75 MB) into $dir" >&2
  python3 -m pip download -q --no-binary :all: --no-deps -d "$tmp" llama-cpp-python >&2
  tar xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp" --wildcards '*/vendor/llama.cpp/models/templates/*.jinja'
  mkdir -p "$dir.part"
  cp "$tmp"/llama_cpp_python-*/vendor/llama.cpp/models/templates/*.jinja "$dir.part/"
  rm -rf "$dir" && mv "$dir.part" "$dir"
fi
echo "$dir"
