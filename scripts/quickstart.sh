#!/usr/bin/env bash
# Set up OtterStack on this server and deploy the example app through a real `git push`:
# Docker (if missing), a Traefik for OtterStack, install.sh for the app "hello" with
# zero-downtime routing, then a push of examples/hello. Prints where the app answers.
# HTTP_PORT (default 8000) is where Traefik listens on this host.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HTTP_PORT=${HTTP_PORT:-8000}
API_PORT=${API_PORT:-8080}

bash "$ROOT/scripts/setup-docker.sh"
"$ROOT/install.sh" hello --traefik-routing
OTTER=$(command -v otterstack || echo "$HOME/.local/bin/otterstack")
"$OTTER" traefik up --http-port "$HTTP_PORT" --api-port "$API_PORT"

REPO=$("$OTTER" status hello --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["repo"])')
work=$(mktemp -d)
cp -r "$ROOT/examples/hello/." "$work/"
cd "$work"
git init -q -b main
git add -A
git -c user.name=quickstart -c user.email=quickstart@localhost commit -qm "hello from quickstart $(date +%s)"
git push --force "$REPO" main 2>&1 | tee "$work/push.log"

url=$(sed -n 's/.*served *\(http:[^ ]*\) answered.*/\1/p' "$work/push.log" | tail -n 1)
[ -n "$url" ] || { echo "the deploy did not finish: see the output above"; exit 1; }
port=${url##*:}; port=${port%%/*}
echo
echo "hello answers at $url (any Host hello.localhost request to this host's port $port)"
curl -fsS -H "Host: hello.localhost" "http://127.0.0.1:$port/" || true
echo "see it with: $OTTER status hello"
