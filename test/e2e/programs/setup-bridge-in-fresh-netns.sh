# scripts/setup-bridge.sh without --netns, for test/e2e/setup-bridge.test.ts, run where the "host" it changes is a
# throwaway one:
#
#   unshare --net --mount --propagation private bash test/e2e/programs/setup-bridge-in-fresh-netns.sh SETUP_SCRIPT
#
# Mounts a private /run, runs up (twice: the second must change nothing), reports what it sees, runs down (twice),
# and reports what is left, one KEY=VALUE a line on stdout for the test to compare.
set -euo pipefail
S=$1
mount -t tmpfs tmpfs /run
ip link set lo up
trap 'bash "$S" down >/dev/null 2>&1 || true' EXIT
echo "fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)"
DHCP_LEASE=2m bash "$S" up >/dev/null
bash "$S" up >/dev/null
echo "netns=$(ip netns list | awk '{print $1}' | sort | tr '\n' ' ')"
echo "br0=$(ip -o -4 addr show dev br0 | awk '{print $4}')"
echo "veth=$(ip -o link show dev veth-hostonly | grep -o 'master [a-z0-9]*')"
echo "fwd_up=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "peer=$(ip -n hostonly -o -4 addr show dev veth0 | awk '{print $4}')"
ip netns exec hostonly ping -c 1 -W 2 192.168.77.2 >/dev/null && echo "ping=ok"
grep -q 'lease time 2m' /run/mirage-lab/host/dnsmasq.log && echo "lease=2m"
P=$(cat /run/mirage-lab/host/dnsmasq.pid)
bash "$S" down >/dev/null
bash "$S" down >/dev/null
echo "fwd_after=$(cat /proc/sys/net/ipv4/ip_forward)"
if grep -q '^State:[[:space:]]*[A-WY]' /proc/$P/status 2>/dev/null; then echo "dnsmasq=alive"; else echo "dnsmasq=gone"; fi
echo "netns_after=$(ip netns list | wc -l)"
echo "links_after=$(ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')"
if [ -e /run/mirage-lab ]; then echo "state=present"; else echo "state=gone"; fi
