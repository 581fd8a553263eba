#!/bin/sh
# Serve /www; stop cleanly on SIGTERM (httpd as PID 1 would ignore it and be killed after 10 s).
httpd -f -p 8000 -h /www &
pid=$!
trap 'kill "$pid"; exit 0' TERM INT
wait "$pid"
