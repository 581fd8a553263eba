"""Env files: round trips, 0600, redaction."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks import secrets
from otterstack_hooks.errors import OtterError
from otterstack_hooks.progress import Progress


@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
                       st.text(st.characters(blacklist_categories=["Cs"],
                                             blacklist_characters=""), max_size=30)))
def test_values_round_trip(values):
    good = {}
    for key, value in values.items():
        try:
            good[key] = secrets.validate_value(key, value)
        except OtterError:
            continue
    text = secrets.render(good)
    assert {k: v for k, v in (secrets.decode(line) for line in text.split("\n") if line)} == good


def test_file_is_0600_and_atomic(tmp_path):
    path = tmp_path / "app" / "env"
    secrets.save(path, {"TOKEN": "s3cr3t-value", "Q": "it's"})
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert secrets.load(path) == {"TOKEN": "s3cr3t-value", "Q": "it's"}
    assert not list(path.parent.glob(".*tmp"))


@pytest.mark.parametrize("text", ["NOEQUALS", "1X=2", "A-B=3", "=x"])
def test_bad_assignments(text):
    with pytest.raises(OtterError):
        secrets.parse_assignment(text)


def test_redaction_in_progress(tmp_path):
    import io
    out = io.StringIO()
    progress = Progress(out, color=False)
    progress.redact = secrets.redactor({"TOKEN": "hunter2-token", "SHORT": "ab"})
    progress.attach_log(tmp_path / "log.jsonl")
    progress.detail("health", "app says: token=hunter2-token ab")
    progress.result(False, "FAILED because hunter2-token leaked")
    shown = out.getvalue() + (tmp_path / "log.jsonl").read_text()
    assert "hunter2-token" not in shown and "***" in shown and " ab" in shown
