#!/usr/bin/env bash
# Installs what building and testing Piston needs, only what is missing:
# Debian packages (compiler, libuv, cJSON, http-parser, PCRE2, utf8proc for NFC, libcurl and
# OpenSSL's libcrypto for `piston pull`) and the Python packages the
# tests use. Safe to run again; quiet when everything is there.
# `deps.sh fuzz` (make fuzz) adds clang and its libFuzzer runtime (libclang-rt-dev), which
# nothing else needs: make test and make fuzz-regress build the fuzz targets with gcc.
set -euo pipefail
apt_pkgs=(build-essential pkg-config libuv1-dev libcjson-dev libhttp-parser-dev libpcre2-dev libedit-dev
          libutf8proc-dev libcurl4-openssl-dev libssl-dev python3 python3-pip unzip)
[ "${1:-}" = fuzz ] && apt_pkgs+=(clang libclang-rt-dev)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Python: the test runner and the references (numpy + gguf for the NumPy forward, jinja2 for
# chat templates, jsonschema to validate structured outputs) and the official clients of each
# dialect (openai, anthropic, ollama, huggingface_hub; pydantic for openai's parse).
# llama-cpp-python is only needed to regenerate fixtures (tests/ref/):
# `python3 bench/llamacpp_build.py pip-install` builds it without -march=native.
py_missing=()
for m in pytest:pytest numpy:numpy gguf:gguf jinja2:jinja2 openai:openai prometheus_client:prometheus-client requests:requests \
         ollama:ollama pexpect:pexpect yaml:pyyaml kubernetes_validate:kubernetes-validate huggingface_hub:huggingface_hub \
         matplotlib:matplotlib jsonschema:jsonschema pydantic:pydantic anthropic:anthropic safetensors:safetensors tokenizers:tokenizers; do
  python3 -c "import ${m%%:*}" 2>/dev/null || py_missing+=("${m##*:}")
done
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "deps: pip installing ${py_missing[*]}"
  python3 -m pip install -q "${py_missing[@]}" 2>&1 | grep -v -i 'running pip as the .root. user' || true
fi
