"""Progress lines for people, JSON lines for the record; a closed terminal never stops a deploy."""

import io
import json

from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.core.vocabulary import Step


def test_text_and_json(tmp_path):
    out = io.StringIO()
    progress = Progress(out, color=False)
    progress.step(Step.LOCK, "taken")
    progress.attach_log(tmp_path / "r1.jsonl")
    progress.detail(Step.BUILD, "step 1/2")
    progress.result(True, "deployed app abc1234 (r1) in 1.0 s")
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["0.0s", "lock", "taken"]
    assert lines[1].strip().startswith("| step 1/2")
    assert lines[-1] == "==> deployed app abc1234 (r1) in 1.0 s"
    events = [json.loads(line) for line in (tmp_path / "r1.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events] == [Step.LOCK, Step.BUILD, Step.RESULT]
    assert events[-1]["kind"] == "ok" and "elapsed" in events[0]


def test_color_only_when_asked():
    out = io.StringIO()
    Progress(out, color=True).result(False, "FAILED x")
    assert out.getvalue().startswith("\033[1;31m==> FAILED x")


class Closed(io.StringIO):
    def write(self, text):
        raise BrokenPipeError


def test_a_vanished_terminal_is_survived(tmp_path):
    progress = Progress(Closed(), color=False)
    progress.attach_log(tmp_path / "log.jsonl")
    progress.step(Step.BUILD, "still going")
    progress.step(Step.START, "and on")
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2
