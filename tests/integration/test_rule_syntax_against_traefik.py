"""Rules Traefik would refuse are refused before the ref moves (rules/traefik/rule_syntax.py),
and the checker agrees with a real Traefik on every rule of testsupport/rule_cases.py."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import test_users_traefik
import yaml
from conftest import App, free_port
from test_users_traefik import deploy, release_of
from users_traefik import IMAGE

from otterstack_hooks.rules.traefik.rule_matchers import RuleSyntax
from otterstack_hooks.rules.traefik.rule_parser import parse_rule
from otterstack_hooks.rules.traefik.rule_rewrite import render, translate
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax, Finding, rule_problems
from testsupport.rule_cases import ALL, RuleCase

users = test_users_traefik.users  # the fixture: a stand-in app on the users' Traefik


def _dynamic(cases: tuple[RuleCase, ...] | list[RuleCase]) -> dict[str, Any]:
    """A file-provider configuration with one router per case, `c<N>`, in its own syntax.
    TCP routers terminate TLS, which HostSNI and ALPN need."""
    http: dict[str, Any] = {}
    tcp: dict[str, Any] = {}
    for number, case in enumerate(cases):
        router = {"rule": case.rule, "ruleSyntax": case.syntax, "entryPoints": [case.protocol]}
        if case.protocol == "http":
            http[f"c{number}"] = {**router, "service": "noop@internal"}
        else:
            tcp[f"c{number}"] = {**router, "service": "nowhere", "tls": {}}
    return {"http": {"routers": http},
            "tcp": {"routers": tcp, "services": {"nowhere": {"loadBalancer": {
                "servers": [{"address": "127.0.0.1:9"}]}}}}}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a local test URL
        return json.loads(resp.read().decode())


def traefik_verdicts(cases: list[RuleCase], workdir: Path) -> dict[int, str]:
    """Load every case into a throwaway Traefik (the image the tests use, file provider) and
    return, per case number, '' if Traefik enabled the router, else its error."""
    workdir.mkdir(parents=True, exist_ok=True)
    # the file provider reads its file as a Go template: every `{` is written as one
    text = yaml.safe_dump(_dynamic(cases), allow_unicode=True).replace("{", "{{`{`}}")
    (workdir / "rules.yml").write_text(text)
    workdir.chmod(0o755)
    (workdir / "rules.yml").chmod(0o644)
    name, port = f"otterstack-rules-{uuid.uuid4().hex[:6]}", free_port()
    started = subprocess.run(
        ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
         "-v", f"{workdir}:/rules:ro", IMAGE, "--api.insecure=true",
         "--providers.file.filename=/rules/rules.yml", "--entrypoints.http.address=:80",
         "--entrypoints.tcp.address=:81", "--log.level=ERROR"],
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        deadline, found = time.monotonic() + 60, {}
        while time.monotonic() < deadline and len(found) < len(cases):
            time.sleep(0.3)
            try:
                listed = [r for proto in ("http", "tcp")
                          for r in _get(f"http://127.0.0.1:{port}/api/{proto}/routers"
                                        "?per_page=10000")]
            except OSError:
                continue
            found = {int(r["name"].split("@")[0][1:]): "; ".join(r.get("error") or [])
                     or ("" if r.get("status") == "enabled" else r.get("status", "?"))
                     for r in listed if r["name"].endswith("@file")}
        assert len(found) == len(cases), f"Traefik listed {len(found)} of {len(cases)} routers"
        return found
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def _ours(case: RuleCase) -> bool:
    """Whether OtterStack lets the case through (a note is no refusal)."""
    labels = {"traefik.enable": "true",
              f"traefik.{case.protocol}.routers.c.rule": case.rule,
              f"traefik.{case.protocol}.routers.c.ruleSyntax": case.syntax}
    found = rule_problems({"web": labels}, DefaultSyntax(RuleSyntax.V3))
    return not [p for p in found if p.finding == Finding.REFUSED]


def rewrites(cases: tuple[RuleCase, ...]) -> list[RuleCase]:
    """The fix OtterStack offers for each case written for the other syntax: the rule
    rewritten for the syntax Traefik reads it in, which Traefik must load."""
    found = []
    for case in cases:
        syntax = RuleSyntax(case.syntax)
        other = RuleSyntax.V2 if syntax == RuleSyntax.V3 else RuleSyntax.V3
        if _ours(case) or not _ours(replace(case, syntax=other)):
            continue
        rewritten = translate(parse_rule(case.rule), case.protocol, other, syntax)
        if rewritten is not None and _ours(replace(case, rule=render(rewritten))):
            found.append(RuleCase(case.protocol, case.syntax, render(rewritten), True))
    return found


def test_every_rule_is_judged_as_a_real_traefik_judges_it(tmp_path):
    """What Traefik disables, OtterStack refuses; what Traefik loads, OtterStack accepts;
    and the rewrites OtterStack offers load."""
    cases = [*ALL, *rewrites(ALL)]
    assert len(cases) > len(ALL) + 20
    verdicts = traefik_verdicts(cases, tmp_path / "rules")
    disagree = [f"{c.protocol} {c.syntax} {c.rule!r}: Traefik "
                f"{'loads it' if not verdicts[n] else 'disables it: ' + verdicts[n]}, "
                f"OtterStack {'accepts' if _ours(c) else 'refuses'}"
                for n, c in enumerate(cases) if (not verdicts[n]) != _ours(c)]
    assert not disagree, "\n".join(disagree)
    wrong_table = [c.rule for n, c in enumerate(cases) if (not verdicts[n]) != c.loads]
    print(f"{len(cases)} rules through Traefik, {sum(not v for v in verdicts.values())} "
          "loaded; OtterStack agreed on every one")
    assert not wrong_table, wrong_table  # the table the unit tests use says what Traefik does


MULTI_HOST = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.a.test`,`{app}.b.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.services.site.loadbalancer.server.port: "8000"
"""
KEPT_AS_V2 = MULTI_HOST + """\
      traefik.http.routers.site.ruleSyntax: v2
"""


def _remote_head(app: App) -> str:
    proc = subprocess.run(["git", "-C", str(app.repo), "rev-parse", "-q", "--verify",
                           "refs/heads/main"], capture_output=True, text=True, timeout=60)
    return proc.stdout.strip()


def test_v2_multi_host_rule_is_refused_before_the_ref_moves_then_served_with_rule_syntax_v2(
        users, users_traefik):
    app = users(MULTI_HOST)
    app.commit("one")
    push = app.push("main")
    assert push.returncode != 0 and push.result.startswith("==> push refused"), push.output
    assert "Host takes 1 argument in syntax v3" in push.result, push.output
    assert f"Host(`{app.name}.a.test`) || Host(`{app.name}.b.test`)" in push.result
    assert "traefik.http.routers.site.ruleSyntax=v2" in push.result, push.output
    assert _remote_head(app) == "", "the ref moved"
    assert app.releases() == [] and app.containers("r1", all_=True) == []

    app.compose_template = KEPT_AS_V2  # type: ignore[attr-defined]
    deploy(app, "two")
    for host in (f"{app.name}.a.test", f"{app.name}.b.test"):
        assert users_traefik.get(host) == (200, release_of(app, 1), "two\n")
