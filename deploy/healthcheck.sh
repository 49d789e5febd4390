#!/bin/bash
# The container's health check: GET /health on the gateway's main port, healthy on 200 only.
# Uses bash's /dev/tcp, so the runtime image needs no curl. Port: $1, default 4000.
port="${1:-4000}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS=' ' read -r -t 3 _ status _ <&3 || exit 1
[[ "$status" == "200" ]]
