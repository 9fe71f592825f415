#!/usr/bin/env bash
# A throwaway CA and a server certificate signed by it, for the lab: never for a real network.
#   scripts/make-lab-cert.sh DIR [NAME [SAN...]]
# writes DIR/ca.pem (give it to curl --cacert), DIR/NAME.pem and DIR/NAME.key (give them to --tls-cert/--tls-key).
# NAME defaults to server; each SAN is an IP address or a DNS name (default: IP 192.168.77.10, DNS localhost).
# The CA's key is kept in DIR/ca.key only to sign another certificate with the same CA (a reload test).
set -euo pipefail
dir=${1:?usage: make-lab-cert.sh DIR [NAME [SAN...]]}
name=${2:-server}
shift $(( $# >= 2 ? 2 : $# ))
sans=("$@")
[ ${#sans[@]} -gt 0 ] || sans=(192.168.77.10 localhost)
command -v openssl >/dev/null || { echo "error: openssl is not installed (apt-get install openssl)" >&2; exit 2; }
mkdir -p "$dir"
alt=""
for s in "${sans[@]}"; do
  if [[ $s =~ ^[0-9.]+$ || $s == *:* ]]; then alt+="${alt:+,}IP:$s"; else alt+="${alt:+,}DNS:$s"; fi
done
# A CA made before is used again while it is valid (a renewed certificate keeps the clients' --cacert working);
# it may sign end certificates only (pathlen 0).
if [ ! -f "$dir/ca.pem" ] || ! openssl x509 -in "$dir/ca.pem" -noout -checkend 3600 >/dev/null 2>&1; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=mirage-direct-ts lab CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$alt") -out "$dir/$name.pem" 2>/dev/null
rm -f "$dir/$name.csr"
chmod 644 "$dir/$name.pem" "$dir/ca.pem"
chmod 600 "$dir/$name.key" "$dir/ca.key"
