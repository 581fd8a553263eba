#!/usr/bin/env bash
# Install OtterStack (once per server) and register one app (once per app): a bare git repo
# with our hooks, and the app's entry in OtterStack's state. Safe to re-run: it upgrades the
# installed code and the hook and keeps the app's state, settings and releases.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  cat <<USAGE
usage: ./install.sh APP [--repo PATH] [--branch BRANCH] [--compose-file FILE] [--traefik-routing]
                      [--swarm] [--previews DOMAIN]

  APP                 app name: lower-case letters, digits and dashes (e.g. myapp)
  --repo PATH         bare git repo to create or adopt (default: $(default_repo_hint))
  --branch BRANCH     the branch whose pushes deploy (default: main)
  --compose-file FILE compose file in the repo (default: compose.yaml, docker-compose.yml, ...)
  --traefik-routing   switch traffic through Traefik with zero downtime (needs a Traefik:
                      \`otterstack traefik up\` starts one); --no-traefik-routing turns it off
  --swarm             deploy on the Docker Swarm this server manages: one stack per release
                      (see docs/swarm.md; implies --traefik-routing; \`otterstack traefik up
                      --swarm\` starts a Traefik for it)
  --previews DOMAIN   a push to any other branch deploys a preview of it at
                      <branch>.DOMAIN (a wildcard DNS record *.DOMAIN points here); deleting
                      the branch removes it (see docs/previews.md)

Environment: OTTERSTACK_DATA_DIR (state), OTTERSTACK_HOME (the virtualenv),
OTTERSTACK_BIN_DIR (where the \`otterstack\` link goes).

Recommended: run it as a dedicated user in the docker group, not as root (pushes come in as
the user that owns the repo), and give pushers restricted keys with
\`otterstack keys add NAME --apps APP < their_key.pub\` (see docs/security.md):
  adduser --disabled-password --gecos '' deploy && adduser deploy docker
  su - deploy -c '/path/to/otterstack/install.sh myapp'
USAGE
}
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 2; }
say() { printf 'install.sh: %s\n' "$*"; }
default_repo_hint() { if [ "$(id -u)" -eq 0 ]; then echo "/srv/git/APP.git"; else echo "~/git/APP.git"; fi; }

APP="" REPO="" BRANCH="" COMPOSE_FILE="" ROUTING="" RUNTIME="" PREVIEWS=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --repo) [ $# -ge 2 ] || die "--repo needs a path"; REPO=$2; shift 2 ;;
    --repo=*) REPO=${1#*=}; shift ;;
    --branch) [ $# -ge 2 ] || die "--branch needs a name"; BRANCH=$2; shift 2 ;;
    --branch=*) BRANCH=${1#*=}; shift ;;
    --compose-file) [ $# -ge 2 ] || die "--compose-file needs a path"; COMPOSE_FILE=$2; shift 2 ;;
    --compose-file=*) COMPOSE_FILE=${1#*=}; shift ;;
    --traefik-routing) ROUTING=on; shift ;;
    --no-traefik-routing) ROUTING=off; shift ;;
    --swarm) RUNTIME=swarm; shift ;;
    --previews) [ $# -ge 2 ] || die "--previews needs a domain"; PREVIEWS=$2; shift 2 ;;
    --previews=*) PREVIEWS=${1#*=}; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$APP" ] || die "one app at a time (got '$APP' and '$1')"; APP=$1; shift ;;
  esac
done
[ -n "$APP" ] || { usage >&2; exit 2; }

# 1. Names first: nothing is written for an invalid name.
if ! [[ "$APP" =~ ^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$ ]]; then
  die "invalid app name '$APP': use 1-40 lower-case letters, digits and dashes, starting and ending with a letter or digit (e.g. myapp)"
fi
if [ -n "$BRANCH" ] && ! git check-ref-format --branch "$BRANCH" >/dev/null 2>&1; then
  die "invalid branch name '$BRANCH'"
fi
case "$BRANCH" in -*) die "invalid branch name '$BRANCH'" ;; esac

# 2. Prerequisites, each with how to get it.
command -v git >/dev/null || die "git is missing: apt-get install git"
PY=${OTTERSTACK_PYTHON:-python3}
"$PY" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "Python >= 3.11 with venv is needed (set OTTERSTACK_PYTHON to its path): apt-get install python3 python3-venv"
command -v docker >/dev/null || die "the docker client is missing: apt-get install docker.io (or run scripts/setup-docker.sh)"
docker info >/dev/null 2>&1 || die "the Docker Engine is not reachable (docker info fails): start dockerd, or add this user to the docker group; scripts/setup-docker.sh sets one up"
cv=$(docker compose version --short 2>/dev/null || true); cv=${cv#v}
if [ -z "$cv" ] || [ "$(printf '%s\n2.24.4\n' "${cv%%-*}" | sort -V | head -n1)" != "2.24.4" ]; then
  die "Docker Compose v2 >= 2.24.4 is needed (found: ${cv:-none}); install the docker-compose-plugin, or run scripts/setup-docker.sh"
fi

# 3. Where things go.
if [ "$(id -u)" -eq 0 ]; then
  say "note: installing as root, so pushes come in as root and whoever may push is root on this server; a dedicated deploy user in the docker group is recommended (see --help and docs/security.md)"
  HOME_DIR=${OTTERSTACK_HOME:-/opt/otterstack}
  BIN_DIR=${OTTERSTACK_BIN_DIR:-/usr/local/bin}
  DATA_DIR=${OTTERSTACK_DATA_DIR:-/var/lib/otterstack}
  REPO=${REPO:-/srv/git/$APP.git}
else
  HOME_DIR=${OTTERSTACK_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/otterstack-install}
  BIN_DIR=${OTTERSTACK_BIN_DIR:-$HOME/.local/bin}
  DATA_DIR=${OTTERSTACK_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/otterstack}
  REPO=${REPO:-$HOME/git/$APP.git}
fi
case "$REPO" in /*) ;; *) REPO="$(pwd)/$REPO" ;; esac
export OTTERSTACK_DATA_DIR=$DATA_DIR

# 4. OtterStack itself, in its own virtualenv; reinstalled only when this checkout changed.
VENV=$HOME_DIR/venv
stamp=$(cd "$SRC" && find pyproject.toml otterstack_hooks -name '*.py' -o -name '*.toml' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/otterstack" ] || [ "$(cat "$HOME_DIR/installed.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "installing OtterStack into $VENV"
  mkdir -p "$HOME_DIR"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  # pip builds in the directory it is given (setuptools writes build/ and *.egg-info there):
  # build from a private copy, so the checkout stays as it is and two installs at once (the
  # test workers do that) never share a build directory
  build=$(mktemp -d)
  cp -R "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/otterstack_hooks" "$build/"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade "$build" \
    || { rm -rf "$build"; die "pip could not install OtterStack into $VENV (see the messages above)"; }
  rm -rf "$build"
  echo "$stamp" > "$HOME_DIR/installed.stamp"
fi
mkdir -p "$BIN_DIR"
ln -sf "$VENV/bin/otterstack" "$BIN_DIR/otterstack"
OTTER="$VENV/bin/otterstack"

# 5. The bare repo: create it, or adopt an existing one with its history.
if [ -e "$REPO" ]; then
  [ "$(git -C "$REPO" rev-parse --is-bare-repository 2>/dev/null)" = "true" ] \
    || die "$REPO exists but is not a bare git repository; pick another --repo"
  say "adopting existing repo $REPO"
else
  mkdir -p "$(dirname "$REPO")"
  git init --quiet --bare --initial-branch="${BRANCH:-main}" "$REPO"
  say "created bare repo $REPO"
fi
git -C "$REPO" config receive.advertisePushOptions true
# Check every pushed object before git stores it (malformed trees, `.git` or `..` path names,
# hostile .gitmodules): a pusher is not trusted. Set on an adopted repo too.
git -C "$REPO" config receive.fsckObjects true
# Deleting the deploy branch is allowed; the hook says nothing was deployed and the running
# release stays (git would otherwise refuse with a message about `git clone`).
git -C "$REPO" config receive.denyDeleteCurrent warn

# 6. Register the app (keeps existing state and releases), then the hook.
args=(apps add "$APP" --repo "$REPO")
[ -z "$BRANCH" ] || args+=(--branch "$BRANCH")
[ -z "$COMPOSE_FILE" ] || args+=(--compose-file "$COMPOSE_FILE")
[ "$RUNTIME" != swarm ] || [ -n "$ROUTING" ] || ROUTING=on
[ -z "$ROUTING" ] || args+=(--traefik-routing "$ROUTING")
[ -z "$RUNTIME" ] || args+=(--runtime "$RUNTIME")
"$OTTER" "${args[@]}" >/dev/null
if [ -n "$PREVIEWS" ]; then  # the domain first: it is checked (a DNS name, no other app's)
  "$OTTER" config "$APP" preview_domain "$PREVIEWS" >/dev/null
  "$OTTER" config "$APP" previews on >/dev/null
fi

for hook in pre-receive post-receive; do
  hook_tmp=$(mktemp "$REPO/hooks/.$hook.XXXXXX")
  {
    echo '#!/usr/bin/env bash'
    printf 'OTTERSTACK_APP=%q\n' "$APP"
    printf 'OTTERSTACK_BIN=%q\n' "$OTTER"
    printf 'OTTERSTACK_DATA_DIR=%q\n' "$DATA_DIR"
    printf 'OTTERSTACK_PATH=%q\n' "$PATH"
    tail -n +2 "$SRC/hooks/post-receive"
  } > "$hook_tmp"
  chmod 0755 "$hook_tmp"
  mv -f "$hook_tmp" "$REPO/hooks/$hook"
done
chmod -R go-w "$REPO/hooks"

branch=$("$OTTER" config "$APP" branch); branch=${branch#branch = }
say "app $APP ready: pushes to $branch deploy (data in $DATA_DIR)"
say "on your machine:  git remote add production ssh://$(id -un)@$(hostname -f 2>/dev/null || hostname)$REPO"
say "then:             git push production $branch"
[ -z "$PREVIEWS" ] || say "previews:         git push production BRANCH deploys BRANCH at <branch>.$PREVIEWS; git push production :BRANCH removes it"
say "pushers:          otterstack keys add NAME --apps $APP < their_key.pub  (restricted: no shell)"
