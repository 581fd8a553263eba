"""Acceptance run: the real-world label sets in ../shared/realworld-compose, deployed by
OtterStack through a Traefik configured the way those users configure theirs.

For every corpus file it builds an app at run time in a temp dir (never committed): every
service keeps its labels VERBATIM (list or map form, `deploy.labels` too); its image/build is
replaced by a stand-in (busybox httpd with a HEALTHCHECK, listening on port 80 and on every
port the labels name); what cannot run here is dropped (host ports, bind mounts,
container_name, capabilities, sysctls, the original healthcheck and command) and said so; the
`${VAR}`s get values in a committed `.env`. A file that contains Traefik itself is first pushed
as it is (OtterStack must refuse it before anything starts), then without the proxy service, as
the refusal tells the user to do. Each app is registered with OtterStack (install.sh into a temp
home, as the tests do), deployed once, then twice more under load over HTTP/HTTPS per router,
and the script prints per file: deployed or refused (and why), failed requests / total, Traefik
routers that are not `enabled` and Traefik's error log lines. Finally several files' apps are
deployed at once on the same Traefik, under load.

Target (issue 9): every file deploys with 0 failed requests, or is refused before anything
starts with a message that says what to change, and the only allowed refusals are a compose
file containing Traefik itself and the Swarm-only form (`deploy.labels`). Exit status 1 if a
file misses it, 2 on a setup problem; 0 and a "SKIP" line when ../shared/realworld-compose is
absent. Not part of the pytest run (it takes many minutes): see docs/testing.md.

    .venv/bin/python benchmarks/realworld_acceptance.py [--only 05,08] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "realworld-compose"
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]
from users_traefik import (  # noqa: E402
    UsersTraefik,
    start_users_traefik,
    stop_users_traefik,
)

from testsupport.load import FULL_SPEED, Endpoint, Load, LoadResult  # noqa: E402
from testsupport.otterapp import Push, app_env  # noqa: E402

RUN = uuid.uuid4().hex[:5]
DOMAIN = f"acc{RUN}.test"
# values for the corpus' ${VAR}s; no `$` in any of them (.env values would interpolate it).
# Not the fastapi template's DOCKER_IMAGE_BACKEND/_FRONTEND: only its `image:` keys name them
# (dropped here), and a committed .env may not set DOCKER_* (docs/security.md).
ENV = {
    "STACK_NAME": f"acc{RUN}", "DOMAIN": DOMAIN, "EMAIL": "ops@example.test",
    "USERNAME": "admin", "HASHED_PASSWORD": "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
    "TAG": "latest", "ENVIRONMENT": "production", "SECRET_KEY": "not-a-secret",
    "FIRST_SUPERUSER": "admin@example.test", "FIRST_SUPERUSER_PASSWORD": "changethis",
    "POSTGRES_PASSWORD": "pw", "POSTGRES_USER": "app", "POSTGRES_DB": "app",
    "POSTGRES_PORT": "5432", "BACKEND_CORS_ORIGINS": "", "SMTP_HOST": "", "SMTP_USER": "",
    "SMTP_PASSWORD": "", "EMAILS_FROM_EMAIL": "", "SENTRY_DSN": "", "INSTALL_DEV": "false",
}
# The external network some files name in `traefik.docker.network`: the users' Traefik is on it
SHARED_NETWORKS = ("traefik-public",)
DROP_KEYS = ("image", "build", "ports", "container_name", "volumes", "cap_add", "sysctls",
             "privileged", "healthcheck", "command", "entrypoint", "dns", "dns_search",
             "hostname", "domainname")
STANDIN_IMAGE = f"otterstack-standin:{RUN}"
STANDIN_DOCKERFILE = """\
FROM busybox
COPY serve.sh /standin/serve.sh
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:80/health || exit 1
EXPOSE 80
CMD ["/bin/sh", "/standin/serve.sh", "stand-in"]
"""
URL_RE = re.compile(r"://[^/:\s]+:(\d+)(/[^\s,]*)?")
# serve.sh TEXT PORTS -- PATHS -- FILES: httpd on :80 and on every port given, answering 200
# with TEXT on /, on every path prefix and for every file path (forward-auth endpoints); on
# SIGTERM it stops listening and lets requests in flight finish.
STANDIN_SERVE = """\
#!/bin/sh
text="$1"; shift
www=/tmp/www
mkdir -p "$www"
echo ok > "$www/health"
echo "$text" > "$www/index.html"
ports="80"
while [ $# -gt 0 ] && [ "$1" != "--" ]; do ports="$ports $1"; shift; done
[ $# -gt 0 ] && shift
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  mkdir -p "$www$1" && echo "$text" > "$www$1/index.html"; shift
done
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  mkdir -p "$www$(dirname "$1")" && echo ok > "$www$1"; shift
done
pids=""
for port in $ports; do
  httpd -f -p "$port" -h "$www" &
  pids="$pids $!"
done
trap 'kill $pids; sleep 2; exit 0' TERM INT
wait
"""
HOST_RE = re.compile(r"(?<![A-Za-z])Host\(\s*`([^`]+)`")
PATH_RE = re.compile(r"(!?)\s*(?:PathPrefix|Path)\(\s*`([^`]+)`")
TRUE = {"true", "t", "1"}


def sh(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
       timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def is_traefik(svc: dict[str, Any]) -> bool:
    image = str(svc.get("image") or "")
    repo = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    return repo == "traefik"


def label_items(labels: Any) -> dict[str, str]:
    """Labels in list or map form as key -> value (values as Compose would turn them)."""
    if isinstance(labels, dict):
        return {str(k): ("true" if v is True else "false" if v is False else str(v))
                for k, v in labels.items()}
    out = {}
    for item in labels or []:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


# ------------------------------------------------------------------ building the app ----

@dataclass
class Variant:
    """One app built from a corpus file: `as_is` keeps the Traefik service (expected refused)."""

    file: str
    label: str
    compose: dict[str, Any]
    expect_refusal: str | None  # the allowed refusal this variant must meet, if any
    notes: list[str] = field(default_factory=list)


def adapt(path: Path) -> list[Variant]:
    raw = yaml.safe_load(path.read_text())
    services = raw.get("services") or {}
    proxies = [name for name, svc in services.items() if is_traefik(svc or {})]
    variants = []
    if proxies:
        variants.append(Variant(path.name, "as is", _adapted(raw, keep=set(services)),
                                "traefik", [f"contains Traefik ({', '.join(proxies)})"]))
    kept = {name for name in services if name not in proxies}
    if not kept:
        return variants  # a Traefik-only file: nothing but the proxy to deploy
    def routes(labels: Any) -> bool:
        return any(k.startswith("traefik.") for k in label_items(labels))

    by_labels = any(routes((services[n] or {}).get("labels")) for n in kept)
    by_deploy = any(routes(((services[n] or {}).get("deploy") or {}).get("labels"))
                    for n in kept)
    label = "proxy left out" if proxies else "as is"
    variant = Variant(path.name, label, _adapted(raw, keep=kept),
                      "deploy.labels" if by_deploy and not by_labels else None)
    if proxies:
        variant.notes.append(f"without {', '.join(proxies)} (what the refusal says to do)")
    variants.append(variant)
    return variants


def _adapted(raw: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """The file with stand-ins: labels and deploy.labels untouched, the rest made runnable."""
    doc: dict[str, Any] = {}
    services = {}
    for name, svc in (raw.get("services") or {}).items():
        if name not in keep:
            continue
        svc = dict(svc or {})
        if is_traefik(svc):
            # verbatim, host ports and the Docker socket too: OtterStack must refuse the file
            # before anything starts, and say why in terms of Traefik
            services[name] = svc
            continue
        new: dict[str, Any] = {}
        for key, value in svc.items():
            if key in DROP_KEYS:
                continue
            if key == "deploy":
                if isinstance(value, dict) and "labels" in value:
                    new["deploy"] = {"labels": value["labels"]}
                continue
            if key == "depends_on":
                value = _depends(value, keep)
                if not value:
                    continue
            new[key] = value
        new["image"] = STANDIN_IMAGE
        named = [v for v in svc.get("volumes") or []
                 if isinstance(v, str) and not v.startswith(("/", ".", "~"))
                 and ":" in v]
        if named:
            new["volumes"] = named
        services[name] = new
    doc["services"] = services
    networks = {}
    for name, net in (raw.get("networks") or {}).items():
        net = dict(net or {})
        if net.get("external"):
            networks[name] = {"external": True, **({"name": net["name"]} if "name" in net
                                                    else {})}
        else:
            networks[name] = {k: v for k, v in net.items() if k in ("driver", "name")
                              and v != "overlay"}
    if networks:
        doc["networks"] = networks
    volumes = {name: {} for name in (raw.get("volumes") or {})}
    if volumes:
        doc["volumes"] = volumes
    return doc


def _depends(value: Any, keep: set[str]) -> Any:
    if isinstance(value, list):
        return [v for v in value if v in keep]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in keep}
    return value


@dataclass(frozen=True)
class Target:
    """Where a router can be reached for load: entrypoint port, Host, path, TLS or not."""

    router: str
    port: int
    host: str
    path: str
    tls: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}{self.path} (:{self.port})"


def effective_labels(src: Path, env: dict[str, str]) -> dict[str, dict[str, str]]:
    """service -> labels after Compose's interpolation (what Traefik will read)."""
    proc = sh(["docker", "compose", "-p", "probe", "-f", "compose.yaml", "config",
               "--format", "json"], env=env, cwd=src, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    config = json.loads(proc.stdout)
    return {name: {**label_items((svc.get("deploy") or {}).get("labels")),
                   **label_items(svc.get("labels"))}
            for name, svc in (config.get("services") or {}).items()}


@dataclass
class Standin:
    """What every stand-in container of an app serves: TCP ports besides :80, path prefixes
    (200 with the release text) and files (forward-auth endpoints named by middlewares)."""

    ports: set[int] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)

    def command(self, text: str) -> list[str]:
        return ["/bin/sh", "/standin/serve.sh", text, *map(str, sorted(self.ports - {80})),
                "--", *sorted(self.paths), "--", *sorted(self.files)]


def targets_of(labels: dict[str, dict[str, str]], traefik: UsersTraefik,
               tls_entrypoints: set[str]) -> tuple[list[Target], list[str], Standin]:
    """Load targets per HTTP router, notes on routers checked via the API only, and what the
    stand-ins must serve."""
    targets, notes, standin = [], [], Standin()
    api_only: dict[str, list[str]] = defaultdict(list)
    ports = standin.ports
    for service, items in labels.items():
        for value in items.values():  # forwardAuth addresses and the like
            for port, path in URL_RE.findall(value):
                ports.add(int(port))
                if path and path != "/":
                    standin.files.add(path)
        if items.get("traefik.enable", "").lower() not in TRUE:
            if any(k.lower().startswith(("traefik.http.", "traefik.tcp.", "traefik.udp."))
                   for k in items):
                notes.append(f"{service}: Traefik labels but no traefik.enable=true, so a "
                             "Traefik with exposedbydefault=false (and OtterStack) ignores it")
            continue
        routers: dict[tuple[str, str], dict[str, str]] = {}
        for key, value in items.items():
            parts = key.split(".")
            if len(parts) >= 5 and parts[0] == "traefik" and parts[-1].lower() == "port" \
                    and parts[2].lower() == "services":
                if value.isdigit():
                    ports.add(int(value))
            if len(parts) >= 5 and parts[0] == "traefik" and parts[2].lower() == "routers":
                routers.setdefault((parts[1].lower(), parts[3]), {})[
                    ".".join(parts[4:]).lower()] = value
        for (proto, name), attrs in sorted(routers.items()):
            where = f"{service}/{proto} router {name}"
            if proto != "http":
                api_only[f"{service}: {proto} router(s)"].append(name)
                continue
            if "@internal" in attrs.get("service", ""):
                notes.append(f"{where}: to {attrs['service']}, checked through the API only")
                continue
            rule = attrs.get("rule", "")
            hosts = HOST_RE.findall(rule)
            paths = [p for neg, p in PATH_RE.findall(rule) if not neg]
            if not hosts and "HostRegexp" in rule:
                notes.append(f"{where}: HostRegexp only, checked through the API only")
                continue
            host = hosts[0].lower() if hosts else f"any.{DOMAIN}"
            path = paths[0] if paths else "/"
            if not path.endswith("/"):
                path += "/"
            entrypoints = [e.strip() for e in attrs.get("entrypoints", "").split(",")
                           if e.strip()] or ["web"]
            entry = next((e for e in entrypoints if e in traefik.ports), None)
            if entry is None:
                notes.append(f"{where}: entrypoints {entrypoints} not published here")
                continue
            tls = entry in tls_entrypoints or any(k.startswith("tls") for k in attrs)
            targets.append(Target(name, traefik.ports[entry], host, path, tls))
            standin.paths.add(path.rstrip("/") or "/")
    standin.paths.discard("/")
    notes += [f"{what} {', '.join(names)}: checked through the API only"
              for what, names in api_only.items()]
    return targets, notes, standin


# ------------------------------------------------------------------ load ----

def status_load(targets: list[Target], threads_each: int = 2) -> Load:
    """Two threads a target sending GETs until stopped (15 min at most). A request fails on
    a connection error, a timeout, Traefik's 404 (no router) or any 5xx; redirects and 401s
    are the user's configuration answering and count as served."""
    endpoints = [Endpoint(t.port, t.host, t.path, t.tls) for t in targets
                 for _ in range(threads_each)]
    return Load(endpoints, threads=len(endpoints), timeout=10, max_seconds=900,
                served=lambda status: status != 404 and status < 500, pause=FULL_SPEED)


def failures(traffic: LoadResult, targets: list[Target]) -> Counter:
    """"url: reason" -> failed requests."""
    urls = {(t.host, t.path): t.url for t in targets}
    return Counter(f"{urls[r.host, r.path]}: {r.reason}" for r in traffic.requests if not r.ok)


# ------------------------------------------------------------------ one app ----

@dataclass
class Result:
    file: str
    variant: str
    outcome: str = "?"
    why: str = ""
    failed: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ok: bool = False


class Runner:
    def __init__(self, work: Path, traefik: UsersTraefik, tls_entrypoints: set[str]):
        self.work, self.traefik, self.tls_entrypoints = work, traefik, tls_entrypoints
        self.home = work / "home"
        self.count = 0
        self.apps: list[tuple[str, dict[str, str]]] = []

    def env(self, name: str) -> dict[str, str]:
        return app_env(self.home, self.work / name / "data", author="acc",
                       email="acc@example.test")

    def create(self, variant: Variant) -> tuple[str, Path, dict[str, str]]:
        self.count += 1
        name = f"acc{RUN}-{self.count}"
        env = self.env(name)
        base = self.work / name
        base.mkdir(parents=True)
        proc = sh([str(ROOT / "install.sh"), name, "--repo", str(base / "app.git"),
                   "--traefik-routing"], env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"install.sh failed: {proc.stdout}{proc.stderr}")
        otter = str(self.home / "venv" / "bin" / "otterstack")
        sh([otter, "config", "--global", "traefik_container", self.traefik.name], env=env)
        src = base / "src"
        src.mkdir()
        sh(["git", "init", "-q", "-b", "main"], cwd=src)
        sh(["git", "remote", "add", "production", str(base / "app.git")], cwd=src)
        (src / "compose.yaml").write_text(yaml.safe_dump(variant.compose, sort_keys=False,
                                                         width=1000))
        (src / ".env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()))
        self.apps.append((name, env))
        return name, src, env

    def write_standin(self, src: Path, text: str, standin: Standin) -> None:
        """Every stand-in service (the proxy keeps its own image) runs serve.sh for `text`."""
        compose = yaml.safe_load((src / "compose.yaml").read_text())
        for svc in compose["services"].values():
            if svc.get("image") == STANDIN_IMAGE:
                svc["command"] = standin.command(text)
        (src / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False, width=1000))

    def push(self, src: Path, env: dict[str, str], message: str) -> tuple[bool, str]:
        sh(["git", "add", "-A"], cwd=src, env=env)
        sh(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=src, env=env)
        proc = sh(["git", "push", "production", "main"], cwd=src, env=env)
        push = Push(proc.returncode, proc.stdout + proc.stderr)
        result = push.result or "(no result line)"
        return "==> deployed" in result, "\n".join(push.lines()) if "==> deployed" not in result \
            else result

    def started_containers(self, name: str) -> list[str]:
        """Containers of any compose project of this app (releases and singletons)."""
        projects = sh(["docker", "ps", "-a", "--format",
                       '{{.Label "com.docker.compose.project"}}']).stdout.split()
        return [p for p in projects if p.startswith(f"{name}-")]

    def prepare(self, variant: Variant) -> tuple[str, Path, dict[str, str], list[Target],
                                                 list[str], Standin]:
        name, src, env = self.create(variant)
        labels = effective_labels(src, {**os.environ, **ENV})
        targets, notes, standin = targets_of(labels, self.traefik, self.tls_entrypoints)
        self.write_standin(src, f"{variant.file} r1", standin)
        return name, src, env, targets, notes, standin

    def run(self, variant: Variant) -> Result:
        result = Result(variant.file, variant.label, notes=list(variant.notes))
        since = time.time()
        try:
            name, src, env, targets, notes, standin = self.prepare(variant)
        except (RuntimeError, OSError, ValueError) as exc:
            result.outcome, result.why = "setup error", str(exc)[:300]
            return result
        result.notes += notes
        ok, text = self.push(src, env, "first")
        if not ok:
            return self._refused(result, variant, name, text, since)
        if variant.expect_refusal:
            result.outcome, result.why = "deployed", f"expected a refusal ({variant.label})"
            return self._finish(result, name, since)
        result.outcome = "deployed"
        load = status_load(targets).start() if targets else None
        try:
            for n in (2, 3):
                time.sleep(1)
                self.write_standin(src, f"{variant.file} r{n}", standin)
                ok, text = self.push(src, env, f"deploy {n}")
                if not ok:
                    result.outcome, result.why = f"deploy {n} failed", _reason(text)
                    break
            time.sleep(1)
        finally:
            traffic = load.stop() if load else None
        if traffic:
            failed = failures(traffic, targets)
            result.failed, result.total = traffic.failed, traffic.sent
            result.errors += [f"{count}x {what}" for what, count in failed.most_common(5)]
        else:
            result.notes.append("no HTTP router to send load to: nothing but API checks")
        result.ok = result.outcome == "deployed" and result.failed == 0
        return self._finish(result, name, since)

    def _refused(self, result: Result, variant: Variant, name: str, text: str,
                 since: float) -> Result:
        # refused before anything started (pre-receive or plan), or a deploy that failed
        result.outcome = "failed" if "==> FAILED" in text else "refused"
        result.why = _reason(text)
        started = self.started_containers(name)
        nothing_started = not started
        if not nothing_started:
            result.why += f" [{len(started)} container(s) had been created]"
        expected = variant.expect_refusal
        allowed = {"traefik": "otterstack traefik up", "deploy.labels": "deploy.labels"}
        result.ok = bool(expected) and nothing_started and allowed[expected] in text
        return self._finish(result, name, since)

    def _finish(self, result: Result, name: str, since: float) -> Result:
        result.errors += self.traefik.router_errors(name)
        lines = [line for line in _plain(self.traefik.logs(since))
                 if name in line and (" ERR " in line or " WRN " in line)]
        acme = [line for line in lines if "Unable to obtain ACME certificate" in line]
        if acme:  # by design: the CA is unreachable, the default certificate serves
            result.notes.append(f"{len(acme)} ACME error line(s): the CA is unreachable here")
        result.errors += [line for line in lines if line not in acme][:5]
        return result

    def cleanup(self) -> None:
        """Remove every app created so far (its compose projects, volumes, networks)."""
        apps, self.apps = self.apps, []
        for name, _ in apps:
            projects = sh(["docker", "ps", "-a", "--format",
                           '{{.Label "com.docker.compose.project"}}']).stdout.split()
            for project in sorted({p for p in projects if p.startswith(f"{name}-")}):
                sh(["docker", "compose", "-p", project, "down", "-t", "0",
                    "--remove-orphans", "--rmi", "local"])
            for kind in ("volume", "network"):
                ids = sh(["docker", kind, "ls", "-q", "--filter",
                          f"label=dev.otterstack.app={name}"]).stdout.split()
                if ids:
                    sh(["docker", kind, "rm", *ids])


def _plain(lines: list[str]) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def _reason(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    result = next((line for line in reversed(lines) if line.startswith("==> ")), "")
    return (result or (lines[-1] if lines else "no output"))[:400]


# ------------------------------------------------------------------ the users' Traefik ----

def corpus_traefik_config(files: list[Path]) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """Entrypoints the corpus' Traefik services define (name -> address), which of them have
    TLS on the entrypoint, and the middlewares their Traefik containers define by labels
    (interpolated), which app label sets reference as `NAME@docker` or plain `NAME`."""
    entrypoints: dict[str, str] = {}
    tls: set[str] = {"websecure"}
    middlewares: dict[str, str] = {}
    for path in files:
        raw = yaml.safe_load(path.read_text())
        for svc in (raw.get("services") or {}).values():
            if not is_traefik(svc or {}):
                continue
            command = svc.get("command") or []
            if isinstance(command, str):
                command = command.split()
            for arg in command:
                match = re.fullmatch(r"--entrypoints\.([\w-]+)\.address=(\S+)", arg,
                                     flags=re.IGNORECASE)
                if match:
                    entrypoints.setdefault(match.group(1), match.group(2))
                match = re.fullmatch(r"--entrypoints\.([\w-]+)\.http\.tls(\.certresolver)?="
                                     r"\S+", arg, flags=re.IGNORECASE)
                if match:
                    tls.add(match.group(1))
        proc = sh(["docker", "compose", "-p", "probe", "-f", str(path), "config", "--format",
                   "json"], env={**os.environ, **ENV}, timeout=120)
        if proc.returncode != 0:
            continue
        for svc in json.loads(proc.stdout).get("services", {}).values():
            if not is_traefik(svc):
                continue
            for key, value in label_items(svc.get("labels")).items():
                if key.startswith("traefik.http.middlewares."):
                    middlewares[key] = value
    return entrypoints, tls, middlewares


def users_entrypoints(corpus: dict[str, str]) -> dict[str, str]:
    """Every entrypoint name the corpus uses, on distinct container ports (web :80 and http
    :80 cannot share one), UDP ones as written."""
    result: dict[str, str] = {}
    used = {80, 443, 8080}
    next_port = 9000
    for name, address in sorted(corpus.items()):
        if name in ("web", "websecure", "traefik"):
            continue
        if address.endswith("/udp"):
            port = int(address.split(":")[-1].split("/")[0])
            if port not in used:
                used.add(port)
                result[name] = f":{port}/udp"
            continue
        while next_port in used:
            next_port += 1
        used.add(next_port)
        result[name] = f":{next_port}"
    return result


# ------------------------------------------------------------------ main ----

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated file prefixes (e.g. 05,08)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and containers")
    parser.add_argument("--no-concurrent", action="store_true",
                        help="skip deploying several files' apps at once")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"SKIP: {CORPUS} is absent (the corpus lives next to the repo, in "
              "../shared/realworld-compose)")
        return 0
    if sh(["docker", "info"]).returncode != 0:
        print("no Docker Engine: run scripts/setup-docker.sh first")
        return 2
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".yml", ".yaml"))
    if args.only:
        files = [p for p in files if p.name.startswith(tuple(args.only.split(",")))]
    corpus_eps, tls_eps, mws = corpus_traefik_config(sorted(
        p for p in CORPUS.iterdir() if p.suffix in (".yml", ".yaml")))
    extra_eps = users_entrypoints(corpus_eps)
    work = Path(tempfile.mkdtemp(prefix="otterstack-acceptance-"))
    network = f"acc-users-{RUN}"
    labels = {**mws}
    traefik = start_users_traefik(f"acc-traefik-{RUN}", network, work / "dynamic",
                                  extra_entrypoints=extra_eps, extra_labels=labels,
                                  tls_entrypoints=tuple(sorted(tls_eps)),
                                  projects=f"acc{RUN}-.+")
    created_nets = []
    for shared in SHARED_NETWORKS:
        if sh(["docker", "network", "inspect", shared]).returncode != 0:
            sh(["docker", "network", "create", "--label", "dev.otterstack.test=acceptance",
                shared])
            created_nets.append(shared)
        sh(["docker", "network", "connect", shared, traefik.name])
    print(f"users' Traefik {traefik.name}: entrypoints "
          + ", ".join(f"{k}=127.0.0.1:{v}" for k, v in sorted(traefik.ports.items()))
          + f"; TLS on {', '.join(sorted(tls_eps))}; {len(mws)} middleware label(s) from the "
          "corpus' Traefik containers", flush=True)
    runner = Runner(work, traefik, tls_eps)
    results: list[Result] = []
    try:
        build = work / "standin"
        build.mkdir()
        (build / "Dockerfile").write_text(STANDIN_DOCKERFILE)
        (build / "serve.sh").write_text(STANDIN_SERVE)
        proc = sh(["docker", "build", "-q", "-t", STANDIN_IMAGE, str(build)])
        if proc.returncode != 0:
            print(f"building the stand-in image failed:\n{proc.stderr}")
            return 2
        proc = sh([str(ROOT / "install.sh"), f"acc{RUN}-0", "--repo",
                   str(work / "boot.git")], env=runner.env(f"acc{RUN}-0"))
        if proc.returncode != 0:
            print(f"install.sh failed:\n{proc.stdout}{proc.stderr}")
            return 2
        for path in files:
            for variant in adapt(path):
                started = time.monotonic()
                print(f"--- {variant.file} [{variant.label}] ...", flush=True)
                result = runner.run(variant)
                results.append(result)
                _print(result, time.monotonic() - started)
                if not args.keep:
                    runner.cleanup()  # the next file must not meet this one's hosts
        if not args.no_concurrent:
            results.append(concurrent(runner, files))
    finally:
        if not args.keep:
            runner.cleanup()
            stop_users_traefik(traefik)
            for shared in created_nets:
                sh(["docker", "network", "rm", shared])
            sh(["docker", "image", "rm", STANDIN_IMAGE])
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {work}, Traefik {traefik.name}")
    return summary(results)


def concurrent(runner: Runner, files: list[Path]) -> Result:
    """Several files' apps deployed at the same time on one Traefik, under load."""
    result = Result("(several at once)", "concurrent")
    chosen = []
    for path in files:
        for variant in adapt(path):
            if variant.expect_refusal is None and len(chosen) < 3:
                chosen.append(variant)
    prepared = []
    for variant in chosen:
        try:
            name, src, env, targets, _, standin = runner.prepare(variant)
        except (RuntimeError, OSError, ValueError) as exc:
            result.outcome, result.why = "setup error", str(exc)[:300]
            return result
        ok, text = runner.push(src, env, "first")
        if not ok:
            result.outcome, result.why = "refused", f"{variant.file}: {_reason(text)}"
            return result
        prepared.append((variant, name, src, env, targets, standin))
    result.variant = "concurrent: " + ", ".join(v.file.split("-")[0] for v, *_ in prepared)
    targets = [t for *_, ts, _ in prepared for t in ts]
    outputs: dict[str, tuple[bool, str]] = {}
    with status_load(targets) as load:
        for n in (2, 3):
            threads = []
            for variant, name, src, env, _, standin in prepared:
                runner.write_standin(src, f"{variant.file} r{n}", standin)
                threads.append(threading.Thread(
                    target=lambda s=src, e=env, k=name, m=n: outputs.__setitem__(
                        k, runner.push(s, e, f"deploy {m}"))))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=900)
        time.sleep(1)
        traffic = load.stop()
    result.failed, result.total = traffic.failed, traffic.sent
    result.errors = [f"{c}x {w}" for w, c in failures(traffic, targets).most_common(5)]
    bad = [k for k, (ok, _) in outputs.items() if not ok]
    result.outcome = "deployed" if not bad else "failed"
    result.why = "; ".join(_reason(outputs[k][1]) for k in bad)
    result.ok = not bad and result.failed == 0
    return result


def _print(result: Result, took: float) -> None:
    verdict = "OK  " if result.ok else "MISS"
    print(f"{verdict} {result.file} [{result.variant}]: {result.outcome}"
          f"{' (' + result.why + ')' if result.why else ''}; failed {result.failed}/"
          f"{result.total} requests; {took:.0f} s", flush=True)
    for note in result.notes:
        print(f"       note: {note}")
    for error in result.errors:
        print(f"       traefik/load: {error[:300]}")


def summary(results: list[Result]) -> int:
    print("\n| file | variant | outcome | failed / total | Traefik errors | target |")
    print("|---|---|---|---|---|---|")
    for r in results:
        why = f": {r.why[:120]}" if r.why else ""
        print(f"| {r.file} | {r.variant} | {r.outcome}{why} | {r.failed} / {r.total} | "
              f"{len(r.errors)} | {'met' if r.ok else 'MISSED'} |")
    missed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(missed)} of {len(results)} met the target")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
