"""Read a release's compose file and plan it: what starts, what is kept, the generated
override files and, with Traefik, its routing. Shared by deploy, dry run and recovery."""

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from otterstack_hooks.adapters.compose import policy_check
from otterstack_hooks.adapters.local.paths import locate_compose, write_private
from otterstack_hooks.core.names import release_number
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import Step
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.compose.model import ComposeModel, parse_config
from otterstack_hooks.rules.compose.override import (
    OVERRIDE_FILE,
    STATE_OVERRIDE_FILE,
    render_override,
    render_state_override,
)
from otterstack_hooks.rules.compose.paths import CHECKED_FILE, STATE_CHECKED_FILE, rebase_paths
from otterstack_hooks.rules.compose.refusals import check_compose_rules
from otterstack_hooks.rules.preview.naming import PreviewTarget, preview_plan
from otterstack_hooks.rules.preview.routing import PreviewRouting, preview_routing
from otterstack_hooks.rules.release_plan import ReleasePlan, plan_release, state_project
from otterstack_hooks.rules.traefik.hosts import check_hosts
from otterstack_hooks.rules.traefik.priority import Incumbent
from otterstack_hooks.rules.traefik.release_names import original_name
from otterstack_hooks.rules.traefik.routing_plan import RoutingPlan, TraefikInfo, plan_routing
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax, check_rules


@dataclass(frozen=True)
class Prepared:
    compose_file: str
    subdir: PurePosixPath
    project_dir: Path
    model: ComposeModel
    plan: ReleasePlan
    routing: RoutingPlan | None
    target: ComposeTarget
    state_files: tuple[str | Path, ...]
    generated: Path  # the project directory of every Compose call after the check
    state_project: str  # where its singletons run: the app's, or its preview's own
    preview: str = ""  # the slug of the preview it is a release of; empty: production
    preview_routing: PreviewRouting | None = None  # a preview's hosts and URLs


def prepare(ports: Ports, app: App, env: Mapping[str, str], name: str, project: str,
            worktree: Path, release_id: int | None, generated: Path,
            revision: str = "", preview: PreviewTarget | None = None) -> Prepared:
    """Writes only into `generated` (outside the checkout: a commit's link there is never
    written through) and, for a real release (`release_id`), its state row: a dry run
    stops here. A `preview`'s release gets its own volumes, networks, labels and hosts."""
    out = ports.out
    found = locate_compose(worktree, app.compose_file)
    compose_file, subdir = found.compose_file, found.subdir
    project_dir, env_files = found.project_dir, found.env_files
    allowed = policy_check.allowed_for(ports.store, ports.paths, app,
                                       lambda text: out.step(Step.POLICY, text),
                                       record=release_id is not None and preview is None,
                                       read=ports.runtime.read_config)
    deploy_labels = app.reads_deploy_labels
    # the Traefik this release is routed by, found once: its networks are the apps' to share
    info = ports.router.detect() if app.traefik_routing else None
    config = policy_check.checked_config(
        ComposeTarget(project, project_dir, (found.file_name,), env_files, env),
        worktree, app.name, allowed, lambda config: refuse_early(config, app, project),
        read=ports.runtime.read_config, edge=_edge(info),
        image_project=ports.runtime.image_project)
    model = parse_config(config, project)
    if deploy_labels:
        model = model.with_deploy_labels()
    out.step(Step.CONFIG, f"{compose_file}: {len(model.services)} service(s): "
             f"{', '.join(model.services)}")
    plan = plan_release(model, app.name, project)
    slug, state, routed = "", state_project(app.name), None
    if preview is not None:
        plan, model, routed = _for_preview(ports, preview, plan, model, info)
        slug, state = preview.names.slug, preview.names.state_project
    if release_id is not None:  # what recovery needs to tell a whole release from a torso
        ports.store.update_release(release_id, services=",".join(
            f"{s}={model.services[s].replicas}" for s in plan.release_services))
    shutil.rmtree(generated, ignore_errors=True)  # a left-over of an interrupted deploy
    # what was checked is what runs: every later Compose call reads this file, never the
    # checkout again (a container could have changed it since), from a project directory
    # of ours (Compose reads no .env there); the singletons' copy reaches the checkout
    # through the app's `current` link, so they keep working once this checkout is pruned
    write_private(generated / CHECKED_FILE, json.dumps(config))
    write_private(generated / STATE_CHECKED_FILE, json.dumps(rebase_paths(
        config, str(worktree), str(ports.paths.current(app.name, slug)))))
    files: list[str | Path] = [generated / CHECKED_FILE]
    state_files: list[str | Path] = [generated / STATE_CHECKED_FILE]
    state_override = render_state_override(plan, name, sorted(env),
                                           preview.names.labels if preview else {})
    if state_override is not None:
        write_private(generated / STATE_OVERRIDE_FILE, state_override)
        files.append(generated / STATE_OVERRIDE_FILE)
        state_files.append(generated / STATE_OVERRIDE_FILE)
    routing = plan_traefik(ports, app, info, name, project, release_id, model,
                           plan.release_services, generated, slug)
    if routing is not None:
        files.append(generated / OVERRIDE_FILE)
    target = ComposeTarget(project, generated, tuple(files), (), env, revision)
    if len(files) > 1:
        ports.runtime.validate(target)  # the merged files must be valid too
    return Prepared(compose_file, subdir, project_dir, model, plan, routing, target,
                    tuple(state_files), generated, state, slug, routed)


def _for_preview(ports: Ports, preview: PreviewTarget, plan: ReleasePlan, model: ComposeModel,
                 info: TraefikInfo | None) -> tuple[ReleasePlan, ComposeModel, PreviewRouting]:
    """A preview's plan (its own volumes and networks, nothing of production's) and model
    (its labels on every service, its hosts in every router), and where it answers."""
    plan = preview_plan(plan, model, preview.names, _edge(info))
    routed = preview_routing({s: svc.labels for s, svc in model.services.items()},
                             preview.names, preview.domain)
    for note in routed.notes:
        ports.out.warn(Step.TRAEFIK, note)
    return plan, model.relabelled({s: {**routed.labels[s], **preview.names.labels}
                                   for s in model.services}), routed


def _edge(info: TraefikInfo | None) -> frozenset[str]:
    """Traefik's networks, which every routed app shares on purpose (compose_names)."""
    return frozenset({info.network, *info.networks}) if info else frozenset()


def refuse_early(config: dict[str, Any], app: App, project: str) -> None:
    """What is refused before the compose policy, with its own fix: a compose file that
    runs Traefik or hides its labels in deploy.labels (compose_rules), a router outside
    the app's `hosts` (traefik_hosts)."""
    model = parse_config(config, project)
    check_compose_rules(model, app.name, app.reads_deploy_labels)
    check_hosts(model, app.name, app.hosts)


def plan_traefik(ports: Ports, app: App, info: TraefikInfo | None, name: str, project: str,
                 release_id: int | None, full: ComposeModel, release_services: tuple[str, ...],
                 generated: Path, preview: str = "") -> RoutingPlan | None:
    """The release's per-release routers, ranked against the serving release's as the router
    shows them, with `info` the Traefik found for this release; None without Traefik routing
    (or without a Traefik: a warning). First, every
    routed service's rules (singletons' too) are checked against the syntax that Traefik
    reads them in (v3 without a Traefik, as pre-receive does): a rule it would refuse fails
    the release here, before anything starts."""
    if not app.traefik_routing:
        return None
    out = ports.out
    for note in check_rules(full, app.name, info.rule_syntax if info else DefaultSyntax()):
        out.warn(Step.TRAEFIK, note)
    model = full.only(release_services)
    if info is None:
        out.warn(Step.TRAEFIK, "no running Traefik container found: deploying without "
                 "zero-downtime routing (start one with `otterstack traefik up`)")
        return None
    active = ports.store.active_release(app.name, preview)
    incumbents = () if active is None or active.project == project else incumbents_of(
        ports.router.routers_of(info, active.project) or [], active.project)
    plan = plan_routing(model, project, release_number(name), info, incumbents)
    if not plan.routers:
        out.warn(Step.TRAEFIK, "no service has traefik.enable=true: nothing to route")
        return None
    write_private(generated / OVERRIDE_FILE,
                  render_override(model, plan.labels, info.network, name, project,
                                  app.name, info.network_label))
    if release_id is not None:
        ports.store.update_release(release_id, priority=plan.highest_priority)
    for router in plan.routers:
        out.step(Step.TRAEFIK, f"router {router.original} -> {router.name} "
                 f"(priority {router.priority})")
        if router.raised_above:
            out.warn(Step.TRAEFIK, f"router {router.original} ranks below "
                     f"{', '.join(router.raised_above)} of the serving release"
                     " by its own rule, which overlaps: raised just above it so this "
                     "release can take over (it keeps that rank while it serves)")
    return plan


def incumbents_of(listed: list[dict[str, Any]], project: str) -> tuple[Incumbent, ...]:
    """A release's routers as the router's API lists them (Router.routers_of)."""
    return tuple(
        Incumbent(r["protocol"], r["name"], r.get("rule"), tuple(r.get("entryPoints") or ()),
                  int(r.get("priority") or 0), original_name(r["defined"], project))
        for r in listed)
