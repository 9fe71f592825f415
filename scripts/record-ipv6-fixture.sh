#!/usr/bin/env bash
# Records test/fixtures/linux-dnsmasq-ipv6.pcap: IPv6 as the Linux kernel and dnsmasq speak it on a link, for
# the IPv6, ICMPv6, neighbour discovery and MLD codec tests.
#
#   scripts/record-ipv6-fixture.sh [OUTPUT.pcap]      (root; needs iproute2, dnsmasq, tshark's dumpcap, ping)
#
# Two namespaces of its own joined by a veth pair: mrec6-<random> holds the "router" end, fd77::2/64, where
# dnsmasq sends router advertisements (ra-stateless, so SLAAC and RDNSS); mrec6-<random>-host holds a plain Linux
# host that autoconfigures from them. The capture, on the router end, holds the host's duplicate address
# detection (NS from ::), its MLDv2 reports and router solicitation, dnsmasq's RA, neighbour solicitations and
# advertisements both ways, and pings of 56 and 3000 bytes (the latter fragmented). Everything the script starts
# is stopped by pid; every command has a time limit; the namespaces are removed.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-test/fixtures/linux-dnsmasq-ipv6.pcap}
NAME="mrec6-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
HOST="$NAME-host"
[ "$(id -u)" -eq 0 ] || { echo "record-ipv6-fixture: must run as root" >&2; exit 1; }
for t in ip dnsmasq dumpcap ping; do command -v "$t" >/dev/null || { echo "record-ipv6-fixture: $t not found" >&2; exit 1; }; done

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null || true; done
  ip netns del "$HOST" 2>/dev/null || true
  ip netns del "$NAME" 2>/dev/null || true
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT

ip netns add "$NAME"
ip netns add "$HOST"
ip -n "$NAME" link add va type veth peer name vb netns "$HOST"
ip -n "$NAME" link set va address 02:00:00:00:77:02
ip -n "$HOST" link set vb address 02:00:00:00:77:01
ip netns exec "$NAME" sysctl -qw net.ipv6.conf.va.accept_dad=0
ip netns exec "$HOST" sysctl -qw net.ipv6.conf.vb.accept_ra=1 net.ipv6.conf.vb.autoconf=1
ip -n "$NAME" link set lo up
ip -n "$HOST" link set lo up
ip -n "$NAME" link set va up
ip -n "$NAME" addr add fd77::2/64 dev va nodad

# The capture starts before the host's end comes up, so that its DAD and MLD reports are in it.
ip netns exec "$NAME" timeout 60 dumpcap -q -P -i va -w "$TMP/raw.pcap" 2>"$TMP/dumpcap.log" &
PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$TMP/raw.pcap" ] && break; sleep 0.1; done
sleep 0.5

ip netns exec "$NAME" timeout 60 dnsmasq --keep-in-foreground --no-daemon --conf-file=/dev/null --port=0 --interface=va \
  --bind-interfaces --enable-ra --dhcp-range=fd77::,ra-stateless,64,1h --ra-param=va,10,1800 \
  --pid-file="$TMP/dnsmasq.pid" --log-facility="$TMP/dnsmasq.log" &
PIDS+=($!)
ip -n "$HOST" link set vb up

# SLAAC: wait for the host's global address from the advertised prefix (DAD takes about a second).
for _ in $(seq 1 100); do
  ip -n "$HOST" -6 addr show dev vb scope global | grep -q 'inet6 fd77::' && ! ip -n "$HOST" -6 addr show dev vb | grep -q tentative && break
  sleep 0.1
done
ip -n "$HOST" -6 addr show dev vb scope global | grep -q 'inet6 fd77::' || { echo "record-ipv6-fixture: no SLAAC address" >&2; exit 1; }

ip netns exec "$HOST" timeout 10 ping -6 -c 2 -i 0.2 fd77::2 >/dev/null
ip netns exec "$HOST" timeout 10 ping -6 -c 1 -s 3000 fd77::2 >/dev/null
ip netns exec "$NAME" timeout 10 ping -6 -c 1 -I va fe80::ff:fe00:7701 >/dev/null || true
sleep 0.5

for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
mkdir -p "$(dirname "$OUT")"
cp "$TMP/raw.pcap" "$OUT"
echo "record-ipv6-fixture: wrote $OUT ($(stat -c %s "$OUT") bytes)"
