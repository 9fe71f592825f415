#!/usr/bin/env bash
# Records test/fixtures/linux-curl-http.pcap: one HTTP exchange between curl on a real Linux kernel and our stack.
#
#   scripts/record-tcp-fixture.sh [--ipv6] [OUTPUT.pcap]      (root; needs iproute2, dnsmasq, tshark, curl)
#
# With --ipv6 (test/fixtures/linux-curl-http6.pcap): the same over IPv6, our stack IPv6 only (--ipv4 off) with the
# static fd77::10/64, the peer at fd77::1; the fixture keeps the neighbour discovery between the two instead of ARP.
#
# A lab of its own (scripts/setup-bridge.sh up --netns mrec-<random>): br0 192.168.77.2 in mrec-…, the peer
# 192.168.77.1 in mrec-…-peer. Our stack runs there with a static address and records every frame it sees to a
# pcap; the peer namespace asks it once with curl; SIGTERM stops it; the lab is torn down. Of that capture the
# fixture keeps (classic pcap, never pcapng) only the peer↔stack ARP exchange and the one TCP conversation on
# port 8088: the kernel's SYN with its real options, its ACKs, curl's GET and FIN, and our answers.
# Everything the script starts is stopped by pid; every command has a time limit.
set -euo pipefail
cd "$(dirname "$0")/.."

V6=""
if [ "${1:-}" = "--ipv6" ]; then V6=1; shift; fi
OUT=${1:-test/fixtures/linux-curl-http$([ -n "$V6" ] && echo 6).pcap}
NAME="mrec-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
PEER="$NAME-peer"
MAC=02:00:5e:00:00:42
ADDR=192.168.77.10
PEER_ADDR=192.168.77.1
PORT=8088
URL="http://$ADDR:$PORT/?user=john&password=password"
ADDR_FLAGS=(--ipv4 "$ADDR/24" --gateway 192.168.77.2)
READY="IPv4: ready on $ADDR"
if [ -n "$V6" ]; then
  ADDR=fd77::10
  PEER_ADDR=fd77::1
  URL="http://[$ADDR]:$PORT/?user=john&password=password"
  ADDR_FLAGS=(--ipv4 off --ipv6 "$ADDR/64" --ipv6-iid eui64)
  READY="IPv6: $ADDR ready (static)"
fi

[ "$(id -u)" -eq 0 ] || { echo "record-tcp-fixture: must run as root" >&2; exit 1; }
for t in ip tshark curl; do command -v "$t" >/dev/null || { echo "record-tcp-fixture: $t not found" >&2; exit 1; }; done

TMP=$(mktemp -d)
RAW="$TMP/raw.pcap"
LOG="$TMP/stack.log"
STACK_PID=""

cleanup() {
  local rc=$?
  if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
    kill -TERM "$STACK_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$STACK_PID" 2>/dev/null || true
  fi
  timeout 60 bash scripts/setup-bridge.sh down --netns "$NAME" >/dev/null || echo "record-tcp-fixture: lab teardown failed" >&2
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT

timeout 60 bash scripts/setup-bridge.sh up --netns "$NAME"

# The stack, static address (no DHCP: deterministic), every frame to $RAW. `timeout` bounds its life and passes
# our SIGTERM on to it (ip netns exec and npm exec their children).
timeout -s TERM 120 ip netns exec "$NAME" npm start --silent -- --bridge br0 --mac "$MAC" "${ADDR_FLAGS[@]}" \
  --port "$PORT" --data ./data --pcap "$RAW" >"$LOG" 2>&1 &
STACK_PID=$!
for _ in $(seq 1 150); do
  grep -q "auth service on TCP port $PORT" "$LOG" && grep -qF "$READY" "$LOG" && break
  kill -0 "$STACK_PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
grep -q "auth service on TCP port $PORT" "$LOG" || { cat "$LOG" >&2; echo "record-tcp-fixture: the stack did not come up" >&2; exit 1; }
sleep 1 # let the gratuitous ARP announcements go out before the peer asks

BODY=$(ip netns exec "$PEER" timeout 10 curl -s -g --max-time 5 "$URL")
echo "record-tcp-fixture: curl got: $(printf '%q' "$BODY")"
[ "$BODY" = "hello john!" ] || { cat "$LOG" >&2; echo "record-tcp-fixture: unexpected answer" >&2; exit 1; }
sleep 1 # the last ACK of the close

kill -TERM "$STACK_PID"
for _ in $(seq 1 100); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
wait "$STACK_PID" || true
STACK_PID=""
cat "$LOG"

# The peer↔stack ARP exchange and the one TCP conversation, nothing else (no announcements, no IPv6 noise).
FILTER="(arp && ((arp.src.proto_ipv4 == $PEER_ADDR && arp.dst.proto_ipv4 == $ADDR) || (arp.src.proto_ipv4 == $ADDR && arp.dst.proto_ipv4 == $PEER_ADDR)))"
FILTER="$FILTER || (ip.addr == $PEER_ADDR && ip.addr == $ADDR && tcp.port == $PORT)"
if [ -n "$V6" ]; then
  # Neighbour discovery between the peer and fd77::10 (either asking), and the TCP conversation.
  FILTER="(ipv6.addr == $PEER_ADDR && (icmpv6.type == 135 || icmpv6.type == 136) && (icmpv6.nd.ns.target_address == $ADDR || icmpv6.nd.na.target_address == $ADDR || ipv6.src == $ADDR))"
  FILTER="$FILTER || (ipv6.addr == $PEER_ADDR && ipv6.addr == $ADDR && tcp.port == $PORT)"
fi
mkdir -p "$(dirname "$OUT")"
timeout 30 tshark -r "$RAW" -n -Y "$FILTER" -F pcap -w "$OUT"
timeout 30 tshark -r "$OUT" -n -o tcp.relative_sequence_numbers:FALSE
echo "record-tcp-fixture: wrote $OUT"
