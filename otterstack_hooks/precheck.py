"""Check a pushed commit before git accepts it (pre-receive): can it deploy at all?"""

import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

from . import compose, policy_check
from .compose_model import COMPOSE_FILE_CANDIDATES, parse_config, pick_compose_file
from .compose_policy import Access
from .compose_rules import check_compose_rules
from .errors import OtterError
from .names import is_sha


def _extract_files(archive: Path, tree: Path) -> None:
    """Extract the regular files and directories of a git archive, nothing else: links
    (`certs -> /etc/ssl/certs`) and any path that would leave `tree` are skipped. (By hand,
    not tarfile's filter=: Debian 12's Python 3.11.2 predates it.)"""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                continue
            target = tree / name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = tar.extractfile(member)
                if source is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)


def compose_problem(sha: str, scratch: Path, configured: str, app_env: Path, app: str,
                    allowed: frozenset[Access], use_deploy_labels: bool) -> str | None:
    """Why the commit's compose file cannot work or is refused by the compose policy, or None.
    Reads the quarantined objects of the push through the GIT_* variables the pre-receive
    hook kept."""
    if not is_sha(sha):
        raise OtterError(f"not a commit: {sha!r}")
    archive = scratch / "commit.tar"
    with open(archive, "wb") as out:
        proc = subprocess.run(["git", "archive", "--format=tar", sha], stdout=out,
                              stderr=subprocess.PIPE, text=False, timeout=300)
    if proc.returncode != 0:
        raise OtterError(f"git archive failed: {proc.stderr.decode(errors='replace').strip()}")
    tree = scratch / "tree"
    _extract_files(archive, tree)
    present = {n for n in (*COMPOSE_FILE_CANDIDATES, configured) if n and (tree / n).is_file()}
    try:
        compose_file = pick_compose_file(configured, present)
        project_dir = tree / PurePosixPath(compose_file).parent
        env_files = tuple(f for f in (project_dir / ".env", app_env) if f.is_file())
        target = compose.ComposeTarget("otterstack-precheck", project_dir,
                                       (PurePosixPath(compose_file).name,), env_files)
        model = parse_config(policy_check.checked_config(target, tree, app, allowed),
                             target.project)
        check_compose_rules(model, app, use_deploy_labels)
    except OtterError as exc:
        return str(exc)
    return None
