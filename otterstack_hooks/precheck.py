"""Check a pushed commit before git accepts it (pre-receive): can it deploy at all?"""

import subprocess
import tarfile
from pathlib import Path, PurePosixPath

from . import compose
from .compose_model import COMPOSE_FILE_CANDIDATES, parse_config, pick_compose_file
from .errors import OtterError
from .names import is_sha


def _inside_only(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """Extract what stays inside the scratch dir; skip (not fail on) links that point out,
    such as `certs -> /etc/ssl/certs`: the check does not need them."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def compose_problem(sha: str, scratch: Path, configured: str, app_env: Path) -> str | None:
    """Why the commit's compose file cannot work, or None. Reads the quarantined objects of
    the push through the GIT_* variables the pre-receive hook kept."""
    if not is_sha(sha):
        raise OtterError(f"not a commit: {sha!r}")
    archive = scratch / "commit.tar"
    with open(archive, "wb") as out:
        proc = subprocess.run(["git", "archive", "--format=tar", sha], stdout=out,
                              stderr=subprocess.PIPE, text=False, timeout=300)
    if proc.returncode != 0:
        raise OtterError(f"git archive failed: {proc.stderr.decode(errors='replace').strip()}")
    tree = scratch / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter=_inside_only)
    present = {n for n in (*COMPOSE_FILE_CANDIDATES, configured) if n and (tree / n).is_file()}
    try:
        compose_file = pick_compose_file(configured, present)
        project_dir = tree / PurePosixPath(compose_file).parent
        env_files = tuple(f for f in (project_dir / ".env", app_env) if f.is_file())
        target = compose.ComposeTarget("otterstack-precheck", project_dir,
                                       (PurePosixPath(compose_file).name,), env_files)
        parse_config(compose.config(target), target.project)
    except OtterError as exc:
        return str(exc)
    return None
