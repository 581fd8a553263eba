"""The app's variables: exact storage, 0600, reserved names, redaction."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.vocabulary import Step

VALUES = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                 max_size=40)
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@given(st.dictionaries(KEYS, VALUES))
def test_every_accepted_value_round_trips_exactly(values):
    for key, value in values.items():
        assert secrets.validate_value(key, value) == value  # only NUL is refused
    assert secrets.parse(secrets.render(values)) == values


@pytest.mark.parametrize("value", ["p@ss\\", "a'b\nc$d", "it's $HOME", "x\r\ny", "${X}#"])
def test_values_older_versions_refused_are_accepted_and_kept(tmp_path, value):
    path = tmp_path / "env"
    secrets.save(path, {"S1": value, "S2": "http://db:5432/x"})
    assert secrets.load(path) == {"S1": value, "S2": "http://db:5432/x"}


def test_env_files_of_older_versions_are_still_read(tmp_path):
    path = tmp_path / "env"
    path.write_text("A='plain'\nB=\"two\\nlines\"\n")
    assert secrets.load(path) == {"A": "plain", "B": "two\nlines"}


@pytest.mark.parametrize("text", ["NUL=a\x00b", "COMPOSE_PROJECT_NAME=x", "DOCKER_HOST=x",
                                  "PATH=/tmp", "BUILDKIT_X=1"])
def test_values_no_environment_holds_and_names_that_steer_compose_are_refused(text):
    with pytest.raises(OtterError):
        secrets.parse_assignment(text)


def test_reserved_names_stored_by_an_older_version_never_reach_compose():
    assert secrets.for_compose({"COMPOSE_FILE": "/etc/x.yml", "TOKEN": "t"}) == {"TOKEN": "t"}


def test_redaction_of_multi_line_secrets_and_of_lines_cut_short():
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    redact = secrets.redactor({"KEY": key, "TOKEN": "tok-3f9a2c7e1b"})
    for line in key.splitlines():  # output arrives line by line
        assert "MIIEvQ" not in redact(f"app: {line}") and "BEGIN KEY" not in redact(line)
    cut = "x" * 280 + "tok-3f9a2c"  # a 300-character line cut in the middle of the token
    assert redact(cut + "...") == "x" * 280 + "***..."
    assert redact("tok-3") == "tok-3"  # only a cut line ends in a partial secret


def test_redaction_of_a_secret_with_control_characters_as_shown():
    from otterstack_hooks.core.names import printable
    redact = secrets.redactor({"T": "ab\tcdefgh"})
    assert redact(printable("value ab\tcdefgh")) == "value ***"


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
    out = io.StringIO()
    progress = Progress(out, color=False)
    progress.redact = secrets.redactor({"TOKEN": "hunter2-token", "SHORT": "ab"})
    progress.attach_log(tmp_path / "log.jsonl")
    progress.detail(Step.HEALTH, "app says: token=hunter2-token ab")
    progress.result(False, "FAILED because hunter2-token leaked")
    shown = out.getvalue() + (tmp_path / "log.jsonl").read_text()
    assert "hunter2-token" not in shown and "***" in shown and " ab" in shown
