#!/usr/bin/env bash
# A 3-node Docker Swarm test cluster on this one machine, beside the main engine:
#   nodes os-n1 (manager), os-n2, os-n3 (workers): one network namespace each, with its own
#   dockerd + managed containerd, all on 10.99.0.0/24; the root namespace is 10.99.0.254 and
#   runs Debian's docker-registry (a process, not a container) at 10.99.0.254:5000.
# Usage: scripts/setup-swarm-cluster.sh [up|verify|status|down]   (default: up, then verify)
# Idempotent: `up` starts only what is missing. Needs root, docker.io, iproute2, util-linux.
# The main engine (/var/run/docker.sock) is only read from (docker save); never changed.
set -euo pipefail

NODES=(n1 n2 n3)
NET=10.99.0                 # nodes are $NET.1..3, the root namespace $NET.254
GW=$NET.254
REGISTRY=$GW:5000
SWNS=os-sw                  # namespace holding the bridge (see net_up for why not the root one)
BR=os-swbr
REG_DIR=/var/lib/os-registry
REG_PID=/run/os-registry.pid
VERIFY_NET=os-verify

log() { printf '[swarm-cluster] %s\n' "$*" >&2; }
sock() { printf 'unix:///run/os-%s/docker.sock' "$1"; }
dk() { local n=$1; shift; docker -H "$(sock "$n")" "$@"; }
node_up() { dk "$1" info >/dev/null 2>&1; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- 1. network ---------------------------------------------------------------------------
# The bridge lives in its own namespace, not the root one: the root namespace has the main
# engine's FORWARD policy DROP and br_netfilter on (bridge-nf-call-iptables=1), so frames
# bridged there between two nodes are dropped, and adding an ACCEPT rule would change the
# main engine's chains. The root namespace joins the bridge through veth os-sw0 ($GW), so it
# talks to the nodes directly (OUTPUT/INPUT only, no forwarding in the root namespace).
net_up() {
  ip netns list | grep -qw "$SWNS" || ip netns add "$SWNS"
  ip -n "$SWNS" link show "$BR" >/dev/null 2>&1 || ip -n "$SWNS" link add "$BR" type bridge
  ip -n "$SWNS" link set lo up
  ip -n "$SWNS" link set "$BR" up
  if ! ip link show os-sw0 >/dev/null 2>&1; then
    ip link add os-sw0 type veth peer name root0 netns "$SWNS"
    ip addr add "$GW/24" dev os-sw0
  fi
  ip -n "$SWNS" link set root0 master "$BR" up
  ip link set os-sw0 up
  local n i
  for n in "${NODES[@]}"; do
    i=${n#n}
    ip netns list | grep -qw "os-$n" || ip netns add "os-$n"
    if ! ip -n "$SWNS" link show "v$n" >/dev/null 2>&1; then
      ip -n "$SWNS" link add "v$n" type veth peer name eth0 netns "os-$n"
      ip -n "os-$n" addr add "$NET.$i/24" dev eth0
    fi
    ip -n "$SWNS" link set "v$n" master "$BR" up
    ip -n "os-$n" link set lo up
    ip -n "os-$n" link set eth0 up
  done
}

# --- 2. one dockerd per node --------------------------------------------------------------
# Each dockerd runs in a new mount + UTS namespace entered into the node's netns:
# - `ip netns exec` is not used: it remounts /sys, which drops /sys/fs/cgroup (cgroup v1
#   here) and dockerd then fails; instead /sys is remounted and the cgroup tree moved back.
# - /run/docker and /etc/docker are bind-mounted per node, because libnetwork has paths
#   it does not take from --exec-root (netns files of overlay sandboxes like /run/docker/
#   netns/1-<netid> would be shared by all nodes of one swarm), and /etc/docker/key.json
#   would give all engines one ID.
# - a hostname per node, else all swarm nodes are called like this machine.
# - after start, /run/docker.sock in the node's mount namespace is bound to the node's own
#   socket, so a stack that mounts /var/run/docker.sock (Traefik) gets this node's engine.
node_start() {
  local n=$1 i=${1#n} run=/run/os-$1 data=/var/lib/os-$1
  node_up "$n" && return 0
  mkdir -p "$run/exec" "$run/etc" "$data"
  [ -f "$run/etc/daemon.json" ] || echo '{}' > "$run/etc/daemon.json"
  log "starting dockerd os-$n (log /tmp/os-$n-dockerd.log)"
  # shellcheck disable=SC2016  # the inner script's $1, $2 are its own arguments
  setsid unshare --mount --uts --propagation slave -- \
    nsenter --net="/run/netns/os-$n" -- sh -euc '
      hostname "$1"
      mkdir -p "$2/cgroup" /run/docker
      mount --rbind /sys/fs/cgroup "$2/cgroup"
      mount -t sysfs sysfs /sys
      mount --move "$2/cgroup" /sys/fs/cgroup
      mount --bind "$2/exec" /run/docker
      mount --bind "$2/etc" /etc/docker
      shift 2; exec "$@"' sh "os-$n" "$run" \
    dockerd --data-root "$data" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
      --config-file "$run/etc/daemon.json" -H "$(sock "$n")" \
      --bip "10.100.$i.1/24" --default-address-pool "base=10.10$i.0.0/16,size=24" \
      --cgroup-parent "/os-$n" --insecure-registry "$REGISTRY" \
      > "/tmp/os-$n-dockerd.log" 2>&1 < /dev/null &
  local _
  for _ in $(seq 1 60); do node_up "$n" && break; sleep 0.5; done
  node_up "$n" || { log "os-$n did not start:"; tail -20 "/tmp/os-$n-dockerd.log" >&2; exit 1; }
  nsenter --mount --target "$(cat "$run/dockerd.pid")" -- \
    mount --bind "$run/docker.sock" /run/docker.sock
}

# --- 3. swarm -----------------------------------------------------------------------------
swarm_up() {
  if [ "$(dk n1 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    log "swarm init on os-n1"
    # Own address pool: the default 10.0.0.0/8 would overlap this cluster's 10.99.0.0/24.
    dk n1 swarm init --advertise-addr "$NET.1" --listen-addr "$NET.1:2377" \
      --default-addr-pool 10.120.0.0/16 --default-addr-pool-mask-length 24 >/dev/null
  fi
  local token n
  token=$(dk n1 swarm join-token -q worker)
  for n in "${NODES[@]:1}"; do
    if [ "$(dk "$n" info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
      log "os-$n joins as worker"
      dk "$n" swarm join --token "$token" --advertise-addr "$NET.${n#n}" "$NET.1:2377" >/dev/null
    fi
  done
  dk n1 node update --label-add db=true os-n2 >/dev/null
}

# --- 4. registry --------------------------------------------------------------------------
registry_up() {
  command -v docker-registry >/dev/null || {
    log "installing docker-registry"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
  }
  pid_alive "$REG_PID" && return 0
  mkdir -p "$REG_DIR"
  cat > "$REG_DIR/config.yml" <<EOF
version: 0.1
storage:
  filesystem: {rootdirectory: $REG_DIR/data}
  delete: {enabled: true}
http: {addr: "$REGISTRY"}
EOF
  log "starting docker-registry on $REGISTRY (log /tmp/os-registry.log)"
  setsid docker-registry serve "$REG_DIR/config.yml" > /tmp/os-registry.log 2>&1 < /dev/null &
  echo $! > "$REG_PID"
  local _
  for _ in $(seq 1 20); do curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "registry did not start:"; tail -20 /tmp/os-registry.log >&2; exit 1
}

# The main engine does not trust this plain-HTTP registry (and is not restarted to make it),
# so images go main -> docker save -> os-n1 load -> push from os-n1.
push_image() {  # $1 = local image on the main engine, $2 = repo:tag in the registry
  dk n1 image inspect "$1" >/dev/null 2>&1 || docker save "$1" | dk n1 load -q >/dev/null
  dk n1 tag "$1" "$REGISTRY/$2"
  dk n1 push -q "$REGISTRY/$2" >/dev/null
  dk n1 image inspect --format '{{index .RepoDigests 0}}' "$REGISTRY/$2"
}

up() {
  local t0=$SECONDS n
  net_up
  registry_up
  for n in "${NODES[@]}"; do node_start "$n"; done
  swarm_up
  push_image busybox:latest busybox:latest >/dev/null
  log "up in $((SECONDS - t0))s"
}

# --- 5. end-to-end check ------------------------------------------------------------------
verify() {
  local t0=$SECONDS img n ips ip ok=1
  img=$(push_image busybox:latest busybox:latest)
  for n in n2 n3; do dk "$n" pull -q "$img" >/dev/null && log "os-$n pulled $img"; done
  dk n1 network inspect "$VERIFY_NET" >/dev/null 2>&1 ||
    dk n1 network create -d overlay --attachable "$VERIFY_NET" >/dev/null
  dk n1 service rm os-web os-traefik >/dev/null 2>&1 || true
  # shellcheck disable=SC2016  # a Traefik rule, not shell
  dk n1 service create -q --detach --name os-web --replicas 3 --endpoint-mode dnsrr \
    --network "$VERIFY_NET" --constraint node.role==worker \
    --label traefik.enable=true --label 'traefik.http.routers.os-web.rule=PathPrefix(`/`)' \
    --label traefik.http.services.os-web.loadbalancer.server.port=8000 \
    --label "traefik.swarm.network=$VERIFY_NET" \
    "$img" sh -c 'mkdir -p /www; echo hi > /www/index.html; httpd -f -p 8000 -h /www' >/dev/null
  wait_running os-web 3
  dk n1 service ps os-web --filter desired-state=running --format '{{.Name}} {{.Node}} {{.CurrentState}}' >&2
  # Task IPs from the swarm API (os-web is on $VERIFY_NET only).
  local tasks
  mapfile -t tasks < <(dk n1 service ps -q --filter desired-state=running os-web)
  ips=$(dk n1 inspect --format '{{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}' "${tasks[@]}")
  for ip in $ips; do
    ip=${ip%/*}
    # No `wget -T`: this busybox (Debian's static build) segfaults with it.
    if dk n1 run --rm --network "$VERIFY_NET" "$img" timeout 10 wget -qO- "http://$ip:8000/" | grep -q hi; then
      log "overlay: os-n1 -> task $ip:8000 OK"
    else log "overlay: os-n1 -> task $ip:8000 FAILED"; ok=0; fi
  done

  # Traefik on the manager, swarm provider on the node's own socket, host-mode port 8080.
  dk n1 image inspect traefik:v3 >/dev/null 2>&1 || docker save traefik:v3 | dk n1 load -q >/dev/null
  dk n1 service create -q --detach --no-resolve-image --name os-traefik \
    --constraint node.role==manager --network "$VERIFY_NET" \
    --publish mode=host,target=80,published=8080 \
    --mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly \
    traefik:v3 --providers.swarm=true --providers.swarm.endpoint=unix:///var/run/docker.sock \
    --providers.swarm.exposedByDefault=false --providers.swarm.refreshSeconds=2 \
    --entrypoints.web.address=:80 >/dev/null
  wait_running os-traefik 1
  local body="" _
  for _ in $(seq 1 30); do
    body=$(curl -fsS -m 3 "http://$NET.1:8080/" 2>/dev/null) && [ "$body" = hi ] && break
    sleep 1
  done
  if [ "$body" = hi ]; then log "traefik: root ns -> $NET.1:8080 -> worker task OK"
  else log "traefik: root ns -> $NET.1:8080 FAILED (got: ${body:-nothing})"; ok=0; fi
  log "verify took $((SECONDS - t0))s"
  if [ "$ok" = 1 ]; then  # leave a clean cluster (port 8080 free); keep it all on failure
    dk n1 service rm os-web os-traefik >/dev/null
    for _ in $(seq 1 20); do dk n1 network rm "$VERIFY_NET" >/dev/null 2>&1 && break; sleep 1; done
  else log "verify FAILED; left services os-web, os-traefik for debugging"; return 1; fi
}

wait_running() {  # $1 service, $2 replicas
  local _ c=0
  for _ in $(seq 1 90); do
    c=$(dk n1 service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true)
    [ "$c" -ge "$2" ] && return 0
    sleep 1
  done
  log "$1: only $c/$2 tasks running"; dk n1 service ps --no-trunc "$1" >&2; return 1
}

# --- 6. status / teardown -----------------------------------------------------------------
status() {
  local n
  for n in "${NODES[@]}"; do
    if node_up "$n"; then
      printf 'os-%s: up %s swarm=%s\n' "$n" "$(sock "$n")" "$(dk "$n" info --format '{{.Swarm.LocalNodeState}}')"
    else printf 'os-%s: down\n' "$n"; fi
  done
  if pid_alive "$REG_PID"; then echo "registry: up $REGISTRY"; else echo "registry: down"; fi
  if node_up n1; then dk n1 node ls; fi
}

down() {
  local n p pids=() _
  for n in "${NODES[@]}"; do
    pid_alive "/run/os-$n/dockerd.pid" || continue
    p=$(cat "/run/os-$n/dockerd.pid")
    log "stopping dockerd os-$n (pid $p)"
    # Containers first, so no shim outlives its dockerd and keeps the node's mounts busy.
    dk "$n" ps -q | xargs -r docker -H "$(sock "$n")" rm -f >/dev/null 2>&1 || true
    kill "$p"; pids+=("$p")
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$p" 2>/dev/null || true
  done
  # Leftovers of a node's own containerd (itself, shims), found by its unique socket path.
  for n in "${NODES[@]}"; do
    pgrep -f -- "/run/os-$n/exec/containerd/containerd.sock" | xargs -r kill -9 2>/dev/null || true
  done
  if pid_alive "$REG_PID"; then kill "$(cat "$REG_PID")"; fi
  rm -f "$REG_PID"
  for n in "${NODES[@]}"; do ip netns del "os-$n" 2>/dev/null || true; done
  ip link del os-sw0 2>/dev/null || true
  ip netns del "$SWNS" 2>/dev/null || true
  for n in "${NODES[@]}"; do
    rm -rf "/run/os-$n" "/var/lib/os-$n"
    rmdir /sys/fs/cgroup/*/"os-$n" 2>/dev/null || true   # --cgroup-parent dirs
  done
  rm -rf "$REG_DIR"
  log "down"
}

env_lines() {
  cat <<EOF
OTTERSTACK_CLUSTER_MANAGER=$(sock n1)
OTTERSTACK_CLUSTER_WORKERS=$(sock n2),$(sock n3)
OTTERSTACK_CLUSTER_REGISTRY=$REGISTRY
OTTERSTACK_CLUSTER_MANAGER_ADDR=$NET.1
EOF
}

case "${1:-all}" in
  up) up; env_lines ;;
  verify) verify; env_lines ;;
  all) up; verify; env_lines ;;
  status) status ;;
  down) down ;;
  *) echo "usage: $0 [up|verify|status|down]" >&2; exit 2 ;;
esac
