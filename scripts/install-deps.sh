#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian machine: Debian packages, then npm packages.
# Safe to run again; it installs only what is missing (in CI, npm ci always runs).
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A NEED=([g++]=g++ [make]=make [python3]=python3 [curl]=curl [ip]=iproute2 [dnsmasq]=dnsmasq-base [tshark]=tshark [ping]=iputils-ping [arping]=arping [unshare]=util-linux [setpriv]=util-linux [wrk]=wrk [nft]=nftables [openssl]=openssl [hping3]=hping3)
declare -A MISSING=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || MISSING[${NEED[$cmd]}]=1
done
missing=("${!MISSING[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${CI:-}" = "true" ] || [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
