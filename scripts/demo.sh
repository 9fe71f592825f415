#!/usr/bin/env bash
# The demo: the auth service on the kernel's sockets (Mirage's --unix mode), asked the original's two questions.
# Exits 0 only when both answers are the expected ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

HOST=127.0.0.1
PORT=$(node -e "const s=require('net').createServer();s.listen(0,'$HOST',()=>{console.log(s.address().port);s.close()})")
LOG=$(mktemp)
npm start --silent -- --stack socket --listen "$HOST" --port "$PORT" --data ./data >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  grep -q "auth service on" "$LOG" && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.1
done
cat "$LOG"

ok=0
ask() {
  local url=$1 want=$2 got
  got=$(curl -s --max-time 5 -w '[HTTP %{http_code}]' "$url" || true)
  printf "$ curl '%s'\n%s\n" "$url" "$got"
  [ "$got" = "$want" ] || { echo "  expected: $want"; ok=1; }
}
ask "http://$HOST:$PORT/?user=john&password=password" $'hello john!\n[HTTP 200]'
ask "http://$HOST:$PORT/?user=john&password=wrong" $'Invalid login\n[HTTP 401]'
if [ $ok -eq 0 ]; then echo "demo: both answers as expected"; else echo "demo: FAILED"; fi
exit $ok
