#!/bin/bash
# Healthy when the broker accepts connections on its host listener and answers a request:
# an ApiVersions request (v0) on the port, checking the correlation id of the reply.
set -euo pipefail
port="${1:-9092}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
# size=10 | api_key=18 | api_version=0 | correlation_id=7 | client_id=null (-1)
printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x07\xff\xff' >&3
reply="$(timeout 5 head -c 8 <&3 | od -An -tx1 | tr -d ' \n')"
exec 3>&-
# 4 bytes of size, then the correlation id 7
[ "${reply:8:8}" = "00000007" ]
