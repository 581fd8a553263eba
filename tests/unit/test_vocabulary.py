"""Statuses and step names are a contract: stored, logged, parsed by `logs -f` and by people."""

import io
import json
import re
from pathlib import Path

from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step, WatchStatus

PACKAGE = Path(__file__).resolve().parents[2] / "otterstack_hooks"


def test_the_words_do_not_change():
    """Old state databases and release logs hold these strings: renaming a member is fine,
    changing a value is a migration."""
    assert {s.name: s.value for s in ReleaseStatus} == {
        "DEPLOYING": "deploying", "ACTIVE": "active", "SUPERSEDED": "superseded",
        "FAILED": "failed", "INTERRUPTED": "interrupted"}
    assert [s.value for s in Step] == [
        "push", "check", "queue", "lock", "release", "dry-run", "plan", "override",
        "checkout", "config", "policy", "volumes", "build", "state", "command", "start",
        "health", "healthy", "traefik", "switch", "served", "drain", "stop", "cleanup",
        "watch", "rollback", "recover", "prune", "remove", "notify", "error", "result"]
    # the watch's outcome, stored in releases.watch_status (docs/design/watch.md)
    assert [s.value for s in WatchStatus] == ["watching", "passed", "failed", "ended"]


def _literals(patterns: list[str], files: str = "*.py") -> dict[str, set[str]]:
    """Each quoted word inside a match of one of the patterns, and the files it is in."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.glob(files)):
        text = path.read_text()
        for pattern in patterns:
            for match in re.finditer(pattern, text):
                for word in re.findall(r'"([^"]*)"', match.group(0)):
                    found.setdefault(word, set()).add(path.name)
    return found


def test_every_step_named_by_a_string_is_a_step():
    """Callers still passing a plain string (StrEnum keeps that working) name a known step."""
    found = _literals([r'\.(?:step|warn|detail|_detail)\(\s*"[^"]*"', r'\bstep="[^"]*"',
                       r'_take_out_if_routed\([^)]*"[^"]*"\)'])
    assert set(found) - set(Step) == set(), found


def test_every_status_named_by_a_string_is_a_release_status():
    """In the modules that handle release records (elsewhere `status` is a container's)."""
    patterns = [r'\bstatus\s*(?:==|!=)\s*"[^"]*"', r'\bstatus\s+(?:not\s+)?in\s+\([^)]*\)',
                r'\bstatus="[^"]*"', r'releases_with_status\([^)]*\)', r'_forget\([^)\n]*"[^"]*"']
    found: dict[str, set[str]] = {}
    for files in ("adapters/local/state.py", "cli.py", "pipeline.py"):
        found |= _literals(patterns, files)
    found.pop("running", None)  # pipeline: a container's status (engine.ContainerSnapshot)
    assert set(found) - set(ReleaseStatus) == set(), found


def test_a_release_record_reads_back_as_a_release_status(tmp_path):
    state = State(tmp_path / "state.db")
    state.upsert_app("a", "/r")
    release = state.new_release("a", "1" * 40, "refs/heads/main", "push", "dev", 1)
    assert release.status is ReleaseStatus.DEPLOYING
    state.update_release(release.id, status=ReleaseStatus.FAILED)
    stored = state.db.execute("SELECT status, typeof(status) FROM releases").fetchone()
    assert tuple(stored) == ("failed", "text")
    assert state.releases_with_status("a", ReleaseStatus.FAILED)[0].status is ReleaseStatus.FAILED
    assert json.loads(json.dumps(state.release(release.id).as_dict()))["status"] == "failed"


def test_steps_are_plain_words_in_the_log_and_on_the_terminal(tmp_path):
    out = io.StringIO()
    progress = Progress(out, color=False)
    progress.attach_log(tmp_path / "r1.jsonl")
    progress.step(Step.DRY_RUN, "would deploy")
    progress.step("build", "a plain string still works")
    events = [json.loads(line) for line in (tmp_path / "r1.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events] == ["dry-run", "build"]
    assert out.getvalue().splitlines()[0].split() == ["0.0s", "dry-run", "would", "deploy"]
