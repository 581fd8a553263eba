"""Apply the compose policy (rules/compose/policy.py) to a checkout: in pre-receive, before the ref
moves, and again before every deploy, since an admin may have revoked an allowance since the
push. The committed files are checked first (rules/compose/raw.py), before `docker compose config`
reads anything they name. Also records, once, what an app that predates the policy already
uses as allowed."""

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.paths import Paths, locate_compose
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Store
from otterstack_hooks.core.records import ALLOW_NOT_RECORDED, App
from otterstack_hooks.rules.compose import raw as compose_raw
from otterstack_hooks.rules.compose.access import Access, parse_allow, render_allow
from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.compose.paths import CHECKED_FILE
from otterstack_hooks.rules.compose.policy import explain, refusals, uses, with_raw_env_files
from otterstack_hooks.rules.traefik.hosts import check_hosts

ConfigReader = Callable[[compose.ComposeTarget], tuple[dict[str, Any], dict[str, Any]]]


def checked_config(target: compose.ComposeTarget, checkout: Path, app: str,
                   allowed: frozenset[Access],
                   first: Callable[[dict[str, Any]], None] = lambda config: None,
                   read: ConfigReader = compose.config_and_raw,
                   edge: frozenset[str] = frozenset(),
                   image_project: Callable[[str], str | None] = lambda ref: None
                   ) -> dict[str, Any]:
    """The effective config of `target`, or an OtterError naming every refused use of host
    access (service, compose key, and the `config APP allow` that would permit it). `first`
    runs before the policy: a refusal with a more useful fix (a compose file that runs Traefik
    itself mounts the Docker socket too) speaks first. `read` runs `docker compose config`
    (the Runtime's read_config), and only once the committed files passed (`raw_findings`);
    `edge` (Traefik's networks) and `image_project` (who built a local image) tell the app's
    own names from others' (compose_names)."""
    problem = raw_findings(target, checkout).explain(app, allowed)
    if problem:
        raise OtterError(problem)
    config, raw = read(target)
    first(config)
    found = refusals(with_raw_env_files(config, raw), str(checkout), allowed,
                     os.path.realpath, app, edge, image_project)
    if found:
        raise OtterError(explain(app, found, allowed))
    return config


def read_bounded(path: str) -> bytes | None:
    """The first MAX_BYTES+1 bytes of a regular file (links followed: compose_raw checked
    where they lead first), or None if there is none. O_NONBLOCK: a FIFO never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, left = [], compose_raw.MAX_BYTES + 1
        while left > 0 and (chunk := os.read(fd, left)):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def raw_findings(target: compose.ComposeTarget, checkout: Path) -> compose_raw.Findings:
    """What the committed files of `target` would make Compose read or fetch, and the
    variables they set that steer Compose itself (compose_raw), links followed on the host."""
    return compose_raw.scan([str(target.directory / name) for name in target.files],
                            str(target.directory), str(checkout), read_bounded,
                            os.path.realpath, tuple(str(f) for f in target.env_files))


def allowed_for(state: Store, paths: Paths, app: App, say: Callable[[str], None],
                record: bool = True, read: ConfigReader = compose.config_and_raw
                ) -> frozenset[Access]:
    """The app's allowances; for an app that predates the policy, first record what its
    active release uses (so it keeps deploying as it did) and say so. A dry run
    (`record=False`) only says what it would record."""
    if app.allow != ALLOW_NOT_RECORDED:
        return parse_allow(app.allow)
    used: frozenset[Access] = frozenset()
    active = state.active_release(app.name)
    source = "it has no active release"
    if active is not None and active.worktree and Path(active.worktree).is_dir():
        worktree = Path(active.worktree)
        try:
            found = locate_compose(worktree, app.compose_file)
            # the app's variables reach Compose as its environment, as in a deploy
            environment = secrets.for_compose(secrets.load(paths.env_file(app.name)))
            target = compose.ComposeTarget(f"{app.name}-policy", found.project_dir,
                                           (found.file_name,), found.env_files, environment)
            found_raw = raw_findings(target, worktree)
            if found_raw.reserved:
                raise OtterError(found_raw.reserved[0].message())
            config = with_raw_env_files(*read(target))
            used = uses(config, str(worktree), os.path.realpath)
            used |= {r.access for r in found_raw.refusals}
            source = f"its active release {active.name} uses"
        except OtterError as exc:
            source = f"its active release {active.name} could not be read ({exc})"
    if record:
        state.set_app_setting(app.name, "allow", render_allow(used))
    say(f"compose policy introduced for {app.name}: {source}; "
        f"{'recorded' if record else 'would record'} as allowed: "
        f"{render_allow(used) or 'nothing'} (`otterstack config {app.name} allow` to review)")
    return used


def recheck(paths: Paths, app: App, release_name: str, worktree: str,
            allowed: frozenset[Access], edge: frozenset[str] = frozenset(),
            image_project: Callable[[str], str | None] = lambda ref: None) -> str | None:
    """The policy again on the config a kept release was checked with and runs (its
    checked file), against today's allowances and `hosts`: an instant rollback starts
    nothing new, but an allowance revoked (or a host taken out of `hosts`) since that release
    deployed must not come back with it. Why it is refused, or None; a release without its
    checked file cannot be judged and is refused."""
    checked = paths.generated(app.name, release_name) / CHECKED_FILE
    try:
        config = json.loads(checked.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"its checked compose config ({checked}) cannot be read"
    try:
        check_hosts(parse_config(config, f"{app.name}-{release_name}"), app.name, app.hosts)
    except OtterError as exc:
        return str(exc)
    found = refusals(config, worktree, allowed, os.path.realpath, app.name, edge,
                     image_project)
    return explain(app.name, found, allowed) if found else None
