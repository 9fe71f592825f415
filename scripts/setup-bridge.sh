#!/usr/bin/env bash
# Builds (or removes) the lab the direct stack runs in: a bridge br0 (192.168.77.2/24, fd77::2/64) with dnsmasq
# serving DHCP and IPv6 router advertisements on it, and a "host-only" peer namespace (192.168.77.1/24,
# fd77::1/64) wired to br0 through a veth pair.
#
#   scripts/setup-bridge.sh up|down|status [--netns NAME] [--dhcpv6]
#
# IPv6 addresses come by SLAAC (dnsmasq's `ra-stateless`: the RA's A and O flags, DHCPv6 for other configuration
# only) unless `up --dhcpv6` asks for stateful DHCPv6: the RA then sets M, its prefix is on-link but not
# autonomous, and dnsmasq leases addresses from fd77::100-fd77::1ff (RFC 8415).
#
# Without --netns, br0 and dnsmasq live in the current namespace and the peer namespace is `hostonly`.
# With --netns NAME, br0, dnsmasq and the bridge end of the veth live in namespace NAME (created if missing) and
# the peer namespace is NAME-peer; the host namespace is left untouched. Run the stack with `ip netns exec NAME …`
# so that its TAP lands next to br0.
#
# State (what `up` made, dnsmasq's pid, lease and log files) is kept in /run/mirage-lab/<NAME or host>; `down`
# removes exactly what `up` made. Both are idempotent. Env: DHCP_LEASE (default 12h), DNSMASQ (default dnsmasq).
set -euo pipefail

BRIDGE=br0
BRIDGE_ADDR=192.168.77.2
BRIDGE_MAC=02:00:c0:a8:4d:02 # fixed, so br0's MAC does not change when a TAP with a lower MAC joins the bridge
PEER_ADDR=192.168.77.1
PREFIX=24
NETMASK=255.255.255.0
RANGE_START=192.168.77.3
RANGE_END=192.168.77.200
# IPv6: a unique local /64 (RFC 4193) on br0, the peer at ::1, dnsmasq's router advertisements for SLAAC.
PREFIX6=fd77::
BRIDGE_ADDR6=fd77::2
PEER_ADDR6=fd77::1
RANGE6_START=fd77::100 # stateful DHCPv6 (--dhcpv6)
RANGE6_END=fd77::1ff
VETH_BR=veth-hostonly # the end enslaved to br0
VETH_PEER=veth0       # the end in the peer namespace
LEASE=${DHCP_LEASE:-12h}
DNSMASQ=${DNSMASQ:-dnsmasq}
STATE_ROOT=/run/mirage-lab

usage() {
  echo "usage: $0 up|down|status [--netns NAME] [--dhcpv6]" >&2
  exit 64
}
die() {
  echo "setup-bridge: error: $*" >&2
  exit 1
}
say() { echo "setup-bridge: $*"; }

# --- arguments -----------------------------------------------------------------------------------------------
[ $# -ge 1 ] || usage
ACTION=$1
shift
case "$ACTION" in up | down | status) ;; -h | --help) usage ;; *) echo "setup-bridge: unknown action '$ACTION'" >&2; usage ;; esac
LAB_NS=""
DHCPV6=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dhcpv6)
      DHCPV6=1
      shift
      ;;
    --netns)
      [ $# -ge 2 ] || usage
      LAB_NS=$2
      shift 2
      ;;
    --netns=*)
      LAB_NS=${1#--netns=}
      shift
      ;;
    *) echo "setup-bridge: unknown argument '$1'" >&2; usage ;;
  esac
done
if [ -n "$LAB_NS" ]; then
  [[ "$LAB_NS" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$ ]] || die "bad namespace name '$LAB_NS' (letters, digits, _ . - ; at most 50)"
  [ "$LAB_NS" != host ] || die "namespace name 'host' is reserved (it names the state of the no---netns lab)"
  PEER_NS="$LAB_NS-peer"
  STATE_DIR="$STATE_ROOT/$LAB_NS"
  WHERE="netns $LAB_NS"
else
  PEER_NS=hostonly
  STATE_DIR="$STATE_ROOT/host"
  WHERE="the current namespace"
fi
[[ "$LEASE" =~ ^([0-9]+[smhdw]?|infinite)$ ]] || die "bad DHCP_LEASE '$LEASE' (e.g. 12h, 2m, 3600, infinite)"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-bridge: error: must be run as root (it creates namespaces, a bridge and veths): sudo $0 $ACTION${LAB_NS:+ --netns $LAB_NS}" >&2
  exit 1
fi
command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found: apt-get install -y iproute2"

MARKS="$STATE_DIR/created" # one line per thing `up` made (or changed), for `down`
PIDFILE="$STATE_DIR/dnsmasq.pid"
LOGFILE="$STATE_DIR/dnsmasq.log"
LEASEFILE="$STATE_DIR/dnsmasq.leases"

# --- helpers -------------------------------------------------------------------------------------------------
# Runs a command in the lab namespace (where br0 and dnsmasq live).
in_lab() {
  if [ -n "$LAB_NS" ]; then ip netns exec "$LAB_NS" "$@"; else "$@"; fi
}
# `ip` in the lab namespace.
ip_lab() {
  if [ -n "$LAB_NS" ]; then ip -n "$LAB_NS" "$@"; else ip "$@"; fi
}
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$1"; }
lab_ready() { [ -z "$LAB_NS" ] || ns_exists "$LAB_NS"; }
link_in_lab() { lab_ready && ip_lab link show dev "$1" >/dev/null 2>&1; }
link_in_peer() { ns_exists "$PEER_NS" && ip -n "$PEER_NS" link show dev "$1" >/dev/null 2>&1; }
mark() { marked "$@" || echo "$*" >>"$MARKS"; }
marked() { [ -f "$MARKS" ] && grep -qxF -- "$*" "$MARKS"; }
marked_prefix() { [ -f "$MARKS" ] && grep -m1 -- "^$1 " "$MARKS" | cut -d' ' -f2-; }

# True while `pid` runs (a zombie waiting for its parent to reap it counts as gone).
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The pid in the pid file, if it is a live dnsmasq started for this lab (its command line names our pid file).
our_dnsmasq_pid() {
  local pid comm
  [ -f "$PIDFILE" ] || return 1
  pid=$(tr -dc '0-9' <"$PIDFILE")
  [ -n "$pid" ] && alive "$pid" || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = dnsmasq ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--pid-file=$PIDFILE" || return 1
  echo "$pid"
}

find_dnsmasq() {
  local d
  if [[ "$DNSMASQ" == */* ]]; then
    [ -x "$DNSMASQ" ] && { echo "$DNSMASQ"; return 0; }
    return 1
  fi
  d=$(command -v "$DNSMASQ" 2>/dev/null) && { echo "$d"; return 0; }
  for d in /usr/sbin /sbin /usr/local/sbin; do
    [ -x "$d/$DNSMASQ" ] && { echo "$d/$DNSMASQ"; return 0; }
  done
  return 1
}

# --- up ------------------------------------------------------------------------------------------------------
do_up() {
  local dnsmasq_bin pid fwd i
  dnsmasq_bin=$(find_dnsmasq) || {
    echo "setup-bridge: error: dnsmasq not found; install it with: apt-get install -y dnsmasq-base" >&2
    exit 2
  }
  UP_DONE=0
  trap 'rc=$?; [ "$UP_DONE" = 1 ] || [ "$rc" = 0 ] || echo "setup-bridge: up failed; undo what was made with: $0 down${LAB_NS:+ --netns $LAB_NS}" >&2' EXIT

  if [ -d "$STATE_DIR" ]; then say "state dir $STATE_DIR exists"; else mkdir -p "$STATE_DIR"; chmod 755 "$STATE_DIR"; say "created state dir $STATE_DIR"; fi
  touch "$MARKS"

  # Namespaces.
  if [ -n "$LAB_NS" ]; then
    if ns_exists "$LAB_NS"; then say "netns $LAB_NS exists"; else ip netns add "$LAB_NS"; mark "netns $LAB_NS"; say "created netns $LAB_NS"; fi
    ip -n "$LAB_NS" link set lo up
  fi
  if ns_exists "$PEER_NS"; then say "netns $PEER_NS exists"; else ip netns add "$PEER_NS"; mark "netns $PEER_NS"; say "created netns $PEER_NS"; fi
  ip -n "$PEER_NS" link set lo up

  # The bridge.
  if link_in_lab "$BRIDGE"; then
    say "bridge $BRIDGE exists in $WHERE"
  else
    ip_lab link add name "$BRIDGE" address "$BRIDGE_MAC" type bridge stp_state 0 forward_delay 0
    mark "link $BRIDGE"
    say "created bridge $BRIDGE in $WHERE"
  fi
  ip_lab addr replace "$BRIDGE_ADDR/$PREFIX" dev "$BRIDGE"
  ip_lab link set "$BRIDGE" up
  ip_lab -6 addr replace "$BRIDGE_ADDR6/64" dev "$BRIDGE" nodad
  say "$BRIDGE has $BRIDGE_ADDR/$PREFIX and $BRIDGE_ADDR6/64 and is up"

  # IPv4 forwarding in the lab namespace; the original value is kept so `down` can put it back.
  fwd=$(in_lab cat /proc/sys/net/ipv4/ip_forward)
  if [ "$fwd" = 1 ]; then
    say "IPv4 forwarding already on in $WHERE"
  else
    [ -n "$(marked_prefix ip_forward || true)" ] || mark "ip_forward $fwd"
    in_lab sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
    say "turned IPv4 forwarding on in $WHERE"
  fi

  # The veth pair: one end on br0, the other in the peer namespace. A half pair (the peer namespace was
  # removed and made anew) is replaced.
  if link_in_lab "$VETH_BR" && ! link_in_peer "$VETH_PEER"; then
    ip_lab link del "$VETH_BR"
    say "removed stale veth $VETH_BR (its peer end was gone)"
  fi
  if link_in_lab "$VETH_BR"; then
    say "veth $VETH_BR <-> $PEER_NS/$VETH_PEER exists"
  else
    ip_lab link add name "$VETH_BR" type veth peer name "$VETH_PEER" netns "$PEER_NS"
    mark "link $VETH_BR"
    say "created veth $VETH_BR <-> $PEER_NS/$VETH_PEER"
  fi
  ip_lab link set "$VETH_BR" master "$BRIDGE" up
  ip -n "$PEER_NS" addr replace "$PEER_ADDR/$PREFIX" dev "$VETH_PEER"
  ip -n "$PEER_NS" link set "$VETH_PEER" up
  ip -n "$PEER_NS" route replace default via "$BRIDGE_ADDR" dev "$VETH_PEER"
  ip -n "$PEER_NS" -6 addr replace "$PEER_ADDR6/64" dev "$VETH_PEER" nodad
  say "$PEER_NS/$VETH_PEER has $PEER_ADDR/$PREFIX and $PEER_ADDR6/64, default via $BRIDGE_ADDR"

  # dnsmasq, DHCP and IPv6 router advertisements (ra-stateless: SLAAC from PREFIX6, RFC 4862; with --dhcpv6,
  # stateful DHCPv6 from RANGE6), on br0 only; and DNS for the lab's own names only (peer.lab is the host-only
  # peer, lab. is answered here and nothing is forwarded anywhere: no resolv.conf, no hosts file, no upstream).
  # It names itself as the DNS server in DHCP (option 6) and DHCPv6, and the domain lab (option 15).
  if [ "$DHCPV6" = 1 ]; then RANGE6="$RANGE6_START,$RANGE6_END,64,$LEASE"; else RANGE6="$PREFIX6,ra-stateless,64,$LEASE"; fi
  # --no-ping: skip the server's 3 s ping check before each offer (the lab has no other hosts to clash with;
  # address conflict detection is the client's job, RFC 5227).
  if pid=$(our_dnsmasq_pid); then
    say "dnsmasq running (pid $pid)"
  else
    if [ -f "$PIDFILE" ]; then rm -f "$PIDFILE"; say "removed stale dnsmasq pid file"; fi
    in_lab "$dnsmasq_bin" \
      --conf-file=/dev/null \
      --no-resolv --no-hosts --local=/lab/ --domain=lab \
      --host-record="peer.lab,$PEER_ADDR,$PEER_ADDR6" \
      --bind-interfaces --interface="$BRIDGE" --except-interface=lo \
      --dhcp-range="$RANGE_START,$RANGE_END,$NETMASK,$LEASE" \
      --dhcp-option=option:router,"$BRIDGE_ADDR" \
      --enable-ra --dhcp-range="$RANGE6" --ra-param="$BRIDGE,10,1800" \
      --dhcp-option=option6:dns-server,"[$BRIDGE_ADDR6]" \
      --dhcp-authoritative \
      --no-ping \
      --log-dhcp --log-facility="$LOGFILE" \
      --dhcp-leasefile="$LEASEFILE" \
      --pid-file="$PIDFILE"
    pid=""
    for i in $(seq 1 50); do
      pid=$(our_dnsmasq_pid) && break
      pid=""
      sleep 0.1
    done
    if [ -z "$pid" ]; then
      [ -f "$LOGFILE" ] && tail -n 5 "$LOGFILE" >&2
      die "dnsmasq did not start (no live dnsmasq in $PIDFILE)"
    fi
    mark "dnsmasq"
    local v6what="RA $PREFIX6/64 (SLAAC)"
    if [ "$DHCPV6" = 1 ]; then v6what="RA $PREFIX6/64, DHCPv6 $RANGE6_START-$RANGE6_END"; fi
    say "started dnsmasq (pid $pid): DHCP $RANGE_START-$RANGE_END/$PREFIX, router $BRIDGE_ADDR, lease $LEASE, $v6what, log $LOGFILE"
  fi
  UP_DONE=1
  say "up: lab ready in $WHERE${LAB_NS:+ (run the stack with: ip netns exec $LAB_NS …)}"
}

# --- down ----------------------------------------------------------------------------------------------------
do_down() {
  local pid i fwd
  if [ ! -d "$STATE_DIR" ]; then
    say "nothing to do: no state dir $STATE_DIR"
    return 0
  fi

  if pid=$(our_dnsmasq_pid); then
    kill -TERM "$pid"
    for i in $(seq 1 50); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dnsmasq ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    say "stopped dnsmasq (pid $pid)"
  elif [ -f "$PIDFILE" ]; then
    say "dnsmasq not running (stale pid file)"
  fi

  if marked "link $VETH_BR" && link_in_lab "$VETH_BR"; then ip_lab link del "$VETH_BR"; say "deleted veth $VETH_BR"; fi
  if marked "link $BRIDGE" && link_in_lab "$BRIDGE"; then ip_lab link del "$BRIDGE"; say "deleted bridge $BRIDGE"; fi
  fwd=$(marked_prefix ip_forward || true)
  if [ -n "$fwd" ] && ! marked "netns $LAB_NS" && lab_ready; then
    in_lab sh -c "echo $fwd >/proc/sys/net/ipv4/ip_forward"
    say "restored IPv4 forwarding to $fwd in $WHERE"
  fi
  if marked "netns $PEER_NS" && ns_exists "$PEER_NS"; then ip netns del "$PEER_NS"; say "deleted netns $PEER_NS"; fi
  if [ -n "$LAB_NS" ] && marked "netns $LAB_NS" && ns_exists "$LAB_NS"; then ip netns del "$LAB_NS"; say "deleted netns $LAB_NS"; fi

  rm -rf -- "$STATE_DIR"
  rmdir "$STATE_ROOT" 2>/dev/null || true
  say "removed state dir $STATE_DIR"
}

# --- status --------------------------------------------------------------------------------------------------
do_status() {
  local pid
  if [ -n "$LAB_NS" ]; then
    if ns_exists "$LAB_NS"; then echo "netns $LAB_NS: present"; else echo "netns $LAB_NS: absent"; fi
  fi
  if ns_exists "$PEER_NS"; then echo "netns $PEER_NS: present"; else echo "netns $PEER_NS: absent"; fi
  if link_in_lab "$BRIDGE"; then
    echo "bridge $BRIDGE in $WHERE: $(ip_lab -o -4 addr show dev "$BRIDGE" | awk '{print $4}' | tr '\n' ' ')"
  else
    echo "bridge $BRIDGE in $WHERE: absent"
  fi
  if link_in_lab "$VETH_BR"; then echo "veth $VETH_BR: present"; else echo "veth $VETH_BR: absent"; fi
  if link_in_peer "$VETH_PEER"; then
    echo "peer $PEER_NS/$VETH_PEER: $(ip -n "$PEER_NS" -o -4 addr show dev "$VETH_PEER" | awk '{print $4}' | tr '\n' ' ')"
  fi
  if lab_ready; then echo "IPv4 forwarding in $WHERE: $(in_lab cat /proc/sys/net/ipv4/ip_forward)"; fi
  if pid=$(our_dnsmasq_pid); then echo "dnsmasq: running (pid $pid)"; else echo "dnsmasq: not running"; fi
  if [ -d "$STATE_DIR" ]; then
    echo "state dir: $STATE_DIR"
    if [ -s "$LEASEFILE" ]; then echo "leases:"; sed 's/^/  /' "$LEASEFILE"; fi
  else
    echo "state dir: absent"
  fi
}

case "$ACTION" in
  up) do_up ;;
  down) do_down ;;
  status) do_status ;;
esac
