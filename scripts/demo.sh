#!/usr/bin/env bash
# The demo (`sudo npm run demo`): builds the lab in fresh namespaces with scripts/setup-bridge.sh --netns, starts
# the direct stack in it (IPv4 by DHCP, IPv6 by SLAAC from dnsmasq's router advertisements; HTTPS with a throwaway
# CA from scripts/make-lab-cert.sh), waits for both addresses, then asks it the original's two questions with curl,
# over HTTP and over HTTPS (curl --cacert), and pings it, over IPv4 and over IPv6, all from the host-only side (the
# peer namespace). It shows that the stack serves as nobody, with no capabilities. Prints each command and its answer, tears everything down
# (the stack by its pid, then the lab) whatever happens, and exits 0 only if all answered as expected.
# The host's own interfaces are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: error: must be run as root (it creates network namespaces, a bridge and a TAP): sudo npm run demo" >&2
  exit 1
fi
bash scripts/install-deps.sh

NAME="mdemo-$$"
PEER="$NAME-peer"
MAC=02:00:5e:00:00:42
PORT=8088
TLS_PORT=8443
TLS_NAME=auth.lab # the name in the certificate; curl --resolve points it at the leased addresses
BOOT_WAIT_S=20 # at most this long for the DHCP lease and the SLAAC address
STACK_LIFETIME_S=300 # a hard limit on the stack process, whatever happens to this script
LOG=$(mktemp)
WORK=$(mktemp -d) # the users and the certificate, where the stack can read them once it is nobody
PID=""
LAB_UP=0

# True while `pid` runs (a zombie waiting to be reaped counts as gone).
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

cleanup() {
  local rc=$? code i
  set +e
  trap - EXIT INT TERM
  if [ -n "$PID" ]; then
    # $PID is `timeout`, which runs the stack in a process group of its own and passes SIGTERM on to it.
    kill -TERM "$PID" 2>/dev/null
    for i in $(seq 1 100); do
      alive "$PID" || break
      sleep 0.1
    done
    if alive "$PID"; then
      echo "demo: the stack did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL -- "-$PID" 2>/dev/null || kill -KILL "$PID" 2>/dev/null
    fi
    wait "$PID" 2>/dev/null
    code=$?
    echo "demo: stack stopped (exit $code)"
  fi
  if [ "$LAB_UP" = 1 ]; then
    bash scripts/setup-bridge.sh down --netns "$NAME" | sed 's/^/  /'
    if ip netns list | awk '{print $1}' | grep -qxE -- "$NAME|$PEER"; then
      echo "demo: error: namespaces left behind after setup-bridge.sh down --netns $NAME" >&2
      [ "$rc" -ne 0 ] || rc=1
    fi
  fi
  rm -f "$LOG"
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "demo: building the lab in namespaces $NAME (br0, dnsmasq) and $PEER (the host-only side, 192.168.77.1)"
LAB_UP=1 # from here on, a failure part way through `up` is undone too
bash scripts/setup-bridge.sh up --netns "$NAME" | sed 's/^/  /'

echo "demo: a throwaway CA and a certificate for $TLS_NAME (scripts/make-lab-cert.sh)"
chmod 755 "$WORK"
cp -r data "$WORK/data"
chmod -R a+rX "$WORK/data" # read by the stack after it drops root (to nobody)
bash scripts/make-lab-cert.sh "$WORK/tls" server "$TLS_NAME"
chgrp "$(id -gn nobody)" "$WORK/tls/server.key" && chmod 640 "$WORK/tls/server.key" # so that a SIGHUP reload can read it

echo "demo: starting the direct stack in $NAME"
timeout --kill-after=5 "$STACK_LIFETIME_S" \
  ip netns exec "$NAME" npm start --silent -- --bridge br0 --mac "$MAC" --port "$PORT" --data "$WORK/data" \
    --tls-cert "$WORK/tls/server.pem" --tls-key "$WORK/tls/server.key" --tls-port "$TLS_PORT" >"$LOG" 2>&1 &
PID=$!

BOUND='DHCP offer received and bound to ([0-9.]+) '
SLAAC='IPv6: (fd77:[0-9a-f:]+) ready \(slaac\)'
ADDR=""
ADDR6=""
for _ in $(seq 1 $((BOOT_WAIT_S * 10))); do
  log=$(cat "$LOG")
  [[ "$log" =~ $BOUND ]] && ADDR=${BASH_REMATCH[1]}
  [[ "$log" =~ $SLAAC ]] && ADDR6=${BASH_REMATCH[1]}
  [ -n "$ADDR" ] && [ -n "$ADDR6" ] && break
  alive "$PID" || break
  sleep 0.1
done
if [ -z "$ADDR" ] || [ -z "$ADDR6" ]; then
  if ! alive "$PID"; then why="the stack exited before it had its addresses"
  elif [ -z "$ADDR" ]; then why="no DHCP lease within $BOOT_WAIT_S s"
  else why="no SLAAC address within $BOOT_WAIT_S s"; fi
  echo "demo: FAILED: $why; the stack's log:" >&2
  sed 's/^/  /' "$LOG" >&2
  exit 1
fi
sleep 0.2 # the lines logged right after the lease (IPv4 ready, gratuitous ARP)
echo "demo: the stack's boot:"
sed 's/^/  /' "$LOG"
echo
echo "demo: asking it from the host-only side (ip netns exec $PEER …)"

failures=()
ask() {
  local url=$1 want=$2 got
  shift 2
  got=$(timeout 10 ip netns exec "$PEER" curl -s -g --max-time 5 -w '[HTTP %{http_code}]' "$@" "$url" 2>&1 || true)
  printf "$ curl %s'%s'\n%s\n" "${*:+$* }" "$url" "$got"
  if [ "$got" != "$want" ]; then
    echo "  expected: ${want//$'\n'/\\n}"
    echo "  got:      ${got//$'\n'/\\n}"
    failures+=("curl '$url'")
  fi
}
pings() {
  local flag=$1 addr=$2 out
  out=$(timeout 20 ip netns exec "$PEER" ping $flag -c 3 -W 2 "$addr" 2>&1 || true)
  printf '$ ping %s-c 3 -W 2 %s\n%s\n' "${flag:+$flag }" "$addr" "$out"
  if ! grep -q '3 packets transmitted, 3 received' <<<"$out"; then
    echo "  expected: 3 packets transmitted, 3 received"
    failures+=("ping $flag $addr")
  fi
}
ask "http://$ADDR:$PORT/?user=john&password=password" $'hello john!\n[HTTP 200]'
ask "http://$ADDR:$PORT/?user=john&password=wrong" $'Invalid login\n[HTTP 401]'
pings "" "$ADDR"
echo
echo "demo: over HTTPS (the CA is the throwaway one; $TLS_NAME is the name in the certificate)"
CA="$WORK/tls/ca.pem"
ask "https://$TLS_NAME:$TLS_PORT/?user=john&password=password" $'hello john!\n[HTTP 200]' --cacert "$CA" --resolve "$TLS_NAME:$TLS_PORT:$ADDR"
ask "https://$TLS_NAME:$TLS_PORT/?user=john&password=wrong" $'Invalid login\n[HTTP 401]' --cacert "$CA" --resolve "$TLS_NAME:$TLS_PORT:$ADDR"
echo
echo "demo: and over IPv6"
ask "http://[$ADDR6]:$PORT/?user=john&password=password" $'hello john!\n[HTTP 200]'
ask "http://[$ADDR6]:$PORT/?user=john&password=wrong" $'Invalid login\n[HTTP 401]'
ask "https://$TLS_NAME:$TLS_PORT/?user=john&password=password" $'hello john!\n[HTTP 200]' --cacert "$CA" --resolve "$TLS_NAME:$TLS_PORT:[$ADDR6]"
ask "https://$TLS_NAME:$TLS_PORT/?user=john&password=wrong" $'Invalid login\n[HTTP 401]' --cacert "$CA" --resolve "$TLS_NAME:$TLS_PORT:[$ADDR6]"
pings -6 "$ADDR6"
echo
echo "demo: the stack's privileges while it serves (/proc/PID/status of its node process)"
SERVICE_PID=""
for p in /proc/[0-9]*; do
  if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "src/main.ts --bridge br0 --mac $MAC"; then SERVICE_PID=${p#/proc/}; break; fi
done
if [ -n "$SERVICE_PID" ] && grep -Eq '^Uid:[[:space:]]+[1-9]' "/proc/$SERVICE_PID/status" && grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$SERVICE_PID/status"; then
  grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):' "/proc/$SERVICE_PID/status" | sed 's/^/  /'
else
  echo "  expected: a non-zero Uid and CapEff 0000000000000000 (pid ${SERVICE_PID:-not found})"
  failures+=("privileges")
fi
echo

if [ ${#failures[@]} -eq 0 ]; then
  echo "demo: all answered as expected"
  exit 0
fi
echo "demo: FAILED: not as expected: $(IFS=';'; echo "${failures[*]}" | sed 's/;/; /g')"
echo "demo: the stack's log:"
sed 's/^/  /' "$LOG"
exit 1
