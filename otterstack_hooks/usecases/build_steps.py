"""The steps of a deploy between its checkout and its start, over the ports: the app's kept
volumes and networks, the build, the singletons, the release command. Each reads as the lines
the pusher sees."""

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import Step
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.compose.model import ComposeModel
from otterstack_hooks.rules.release_plan import ReleasePlan
from otterstack_hooks.usecases.image_checks import check_image_labels
from otterstack_hooks.usecases.prepare import Prepared
from otterstack_hooks.usecases.release_steps import Details, limit, wait_healthy


def ensure_shared(ports: Ports, app: App, model: ComposeModel, plan: ReleasePlan,
                  labels: Mapping[str, str]) -> None:
    """Create the app's pinned volumes and networks, with `labels` (a preview's: how its own
    are found and removed); they outlive every release."""
    runtime = ports.runtime
    for key, name in plan.volumes.items():
        if runtime.ensure_volume(app.name, name, _labelled(model.volumes.get(key), labels)):
            ports.out.step(Step.VOLUMES, f"created volume {name} (kept across releases)")
    for key, name in plan.networks.items():
        runtime.ensure_network(app.name, name, _labelled(model.networks.get(key), labels))


def build(ports: Ports, app: App, release: Release, model: ComposeModel, plan: ReleasePlan,
          target: ComposeTarget, reuse_images_of: str) -> None:
    """Build the release's images, or (a rollback) tag the ones a retained release built."""
    builds = [s for s in plan.release_services if model.services[s].builds]
    if not builds:
        return
    if reuse_images_of:
        if ports.runtime.reuse_images(reuse_images_of, release.project, builds):
            ports.out.step(Step.BUILD, f"reusing the images of {reuse_images_of}: no build")
            return
        ports.out.warn(Step.BUILD, f"the images of {reuse_images_of} are gone (pruned): "
                      "rebuilding")
    ports.out.step(Step.BUILD, f"building {', '.join(plan.release_services)}")
    with limit(app, "build_timeout", "the build"):
        ports.runtime.build(target, plan.release_services, Details(ports.out, Step.BUILD),
                                 app.build_timeout)


def update_singletons(ports: Ports, env: Mapping[str, str], app: App, prep: Prepared,
                      worktree: Path, timeout: int) -> None:
    """Bring the app's singletons to this release's definition; compose recreates only
    those whose definition changed (stop, then start: never two at once)."""
    runtime, model, plan = ports.runtime, prep.model, prep.plan
    ports.paths.point_current(app.name, worktree, prep.preview)
    target = ComposeTarget(prep.state_project, prep.generated, prep.state_files, (),
                           env, prep.target.revision)
    builds = [s for s in plan.singletons if model.services[s].builds]
    if builds:
        ports.out.step(Step.BUILD, f"building {', '.join(builds)} (singletons)")
        with limit(app, "build_timeout", "the build"):
            runtime.build(target, builds, Details(ports.out, Step.BUILD), app.build_timeout)
    check_image_labels(ports, target, model.only(plan.singletons),
                       {s: f"{target.project}-{s}" for s in builds})
    before = runtime.fingerprints(target.project)
    with limit(app, "start_timeout", "starting the singletons"):
        runtime.up(target, plan.singletons, Details(ports.out, Step.STATE), app.start_timeout)
    after = runtime.fingerprints(target.project)
    # restarts a kept singleton had before this deploy are history, not a new failure
    baseline = {cid: restarts for cid, _h, restarts in before.values()}
    same = {s for s in plan.singletons
            if s in before and s in after and before[s][:2] == after[s][:2]}
    kept = [s for s in plan.singletons if s in same]
    recreated = [s for s in plan.singletons if s in before and s not in same]
    started = [s for s in plan.singletons if s not in before]
    if kept:
        ports.out.step(Step.STATE, f"kept {', '.join(kept)} running (unchanged)")
    if recreated:
        ports.out.warn(Step.STATE, f"recreated {', '.join(recreated)}: its definition changed "
                      "(a short interruption of that service)")
    if started:
        ports.out.step(Step.STATE, f"started {', '.join(started)} (runs once per app)")
    wait_healthy(ports, app, target.project, {s: 1 for s in plan.singletons}, timeout,
                 services=plan.singletons, baseline=baseline)


def release_command(ports: Ports, app: App, target: ComposeTarget, plan: ReleasePlan) -> None:
    """The app's release command (migrations) in a one-off container of the new release,
    before its services start: with Traefik a release gets traffic as soon as it is
    healthy, so this is the last moment before the switch."""
    service, *command = shlex.split(app.release_command)
    if service not in plan.release_services:
        raise OtterError(f"release command `{app.release_command}`: {service!r} is not a "
                         f"service of this release ({', '.join(plan.release_services)})")
    ports.out.step(Step.COMMAND, f"running `{shlex.join(command)}` in a one-off {service} "
                  "container")
    with limit(app, "release_command_timeout", "the release command"):
        ports.runtime.run_once(target, service, command, Details(ports.out, Step.COMMAND),
                                    app.release_command_timeout)


def _labelled(spec: Mapping[str, Any] | None, labels: Mapping[str, str]) -> dict[str, Any]:
    """A volume's or network's compose spec with `labels` added to its own."""
    spec = dict(spec or {})
    if labels:
        spec["labels"] = {**(spec.get("labels") or {}), **labels}
    return spec
