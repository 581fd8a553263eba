#!/usr/bin/env bash
# Make sure Debian's OpenSSH server is installed for the SSH push tests (they start their own
# sshd on a free high port on 127.0.0.1 with their own host keys and config; nothing here
# starts or changes the system's sshd). Idempotent and quick when it is already there.
set -euo pipefail

log() { printf '[setup-ssh] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1 \
    || ! command -v useradd >/dev/null 2>&1; then
  log "installing openssh-server"
  $SUDO apt-get update -qq >&2
  # RUNLEVEL=1: the package must not start a system sshd; the tests start their own
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq \
    --no-install-recommends openssh-server >&2
fi
log "ready: $(/usr/sbin/sshd -V 2>&1 | head -1 || true)"
