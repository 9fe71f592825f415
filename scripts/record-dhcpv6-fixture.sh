#!/usr/bin/env bash
# Records test/fixtures/dnsmasq-dhcpv6.pcap: stateful DHCPv6 between our client and dnsmasq, for the DHCPv6
# codec tests: dnsmasq's router advertisement with the M flag, our Solicit, its Advertise, our Request, its
# Reply, and at shutdown our Release and its Reply.
#
#   scripts/record-dhcpv6-fixture.sh [OUTPUT.pcap]      (root; needs iproute2, dnsmasq, tshark)
#
# A lab of its own (scripts/setup-bridge.sh up --netns mrec6d-<random> --dhcpv6). Our stack runs there with a
# fixed MAC (02:00:5e:00:00:46) and records every frame to a pcap until DHCPv6 has bound an address; SIGTERM
# stops it (the Release); the lab is torn down. Of the capture, the fixture keeps (classic pcap) the router
# advertisements and the DHCPv6 messages. Everything the script starts is stopped by pid; every command has a
# time limit.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-test/fixtures/dnsmasq-dhcpv6.pcap}
NAME="mrec6d-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
MAC=02:00:5e:00:00:46
[ "$(id -u)" -eq 0 ] || { echo "record-dhcpv6-fixture: must run as root" >&2; exit 1; }
for t in ip dnsmasq tshark; do command -v "$t" >/dev/null || { echo "record-dhcpv6-fixture: $t not found" >&2; exit 1; }; done

TMP=$(mktemp -d)
PID=""
cleanup() {
  local rc=$?
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  bash scripts/setup-bridge.sh down --netns "$NAME" >/dev/null 2>&1 || true
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT

timeout 60 bash scripts/setup-bridge.sh up --netns "$NAME" --dhcpv6 >/dev/null
ip netns exec "$NAME" timeout 60 node --import tsx src/main.ts --stack direct --mac "$MAC" \
  --dhcp-state "$TMP/state/dhcp-lease.json" --pcap "$TMP/raw.pcap" >"$TMP/stack.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do grep -q 'DHCPv6: bound to' "$TMP/stack.log" && break; sleep 0.1; done
grep -q 'DHCPv6: bound to' "$TMP/stack.log" || { cat "$TMP/stack.log" >&2; echo "record-dhcpv6-fixture: not bound" >&2; exit 1; }
kill -TERM "$PID"
for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
PID=""
mkdir -p "$(dirname "$OUT")"
timeout 30 tshark -r "$TMP/raw.pcap" -F pcap -w "$OUT" -Y 'dhcpv6 || icmpv6.type == 134' 2>/dev/null
echo "record-dhcpv6-fixture: wrote $OUT ($(stat -c %s "$OUT") bytes, $(tshark -r "$OUT" 2>/dev/null | wc -l) frames)"
