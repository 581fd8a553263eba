"""policy_check: the committed files are checked before `docker compose config` runs at all,
on real files and links (the I/O side of compose_raw)."""

import os
from pathlib import Path

import pytest

from otterstack_hooks.adapters.compose.policy_check import checked_config, read_bounded
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.compose import raw as compose_raw
from otterstack_hooks.rules.compose.access import Access


class Reader:
    """Stands in for `docker compose config`: records that it ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, target: ComposeTarget) -> tuple[dict, dict]:
        self.calls += 1
        return {"services": {}}, {"services": {}}


def checkout_with(tmp_path: Path, files: dict[str, str]) -> Path:
    checkout = tmp_path / "checkout"
    for name, text in files.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text)
    return checkout


def check(checkout: Path, allowed: frozenset[Access] = frozenset(), env_files=()) -> Reader:
    read = Reader()
    target = ComposeTarget("p", checkout, ("compose.yaml",), env_files)
    checked_config(target, checkout, "a", allowed, read=read)
    return read


def test_a_host_file_of_an_include_stops_the_check_before_compose_runs(tmp_path):
    secrets = tmp_path / "other-app-env"
    secrets.write_text("TOKEN=x\n")
    checkout = checkout_with(tmp_path, {
        "compose.yaml": f"include:\n  - path: x.yaml\n    env_file: {secrets}\n",
        "x.yaml": "services: {}\n"})
    read = Reader()
    with pytest.raises(OtterError, match=r"include.env_file .*other-app-env \(in compose.yaml\)"
                                         r".*allow host-files"):
        checked_config(ComposeTarget("p", checkout, ("compose.yaml",)), checkout, "a",
                       frozenset(), read=read)
    assert read.calls == 0
    assert check(checkout, frozenset({Access.HOST_FILES})).calls == 1


def test_a_committed_link_out_of_the_checkout_is_followed(tmp_path):
    checkout = checkout_with(tmp_path, {"compose.yaml": "include:\n  - inc.yaml\n"})
    (tmp_path / "elsewhere.yaml").write_text("services: {}\n")
    (checkout / "inc.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(OtterError, match="include inc.yaml"):
        check(checkout)
    (checkout / "inc.yaml").unlink()
    (checkout / "inc.yaml").symlink_to("sub/real.yaml")  # a link inside is fine
    (checkout / "sub").mkdir()
    (checkout / "sub" / "real.yaml").write_text("services: {}\n")
    assert check(checkout).calls == 1


def test_a_linked_env_of_the_project_is_refused(tmp_path):
    """Without --env-file (OtterStack passes none for a linked `.env`) Compose reads the
    project directory's `.env` through the link."""
    (tmp_path / "victim").write_text("TOKEN=x\n")
    checkout = checkout_with(tmp_path, {"compose.yaml": "services: {}\n"})
    (checkout / ".env").symlink_to(tmp_path / "victim")
    with pytest.raises(OtterError, match=r"\.env \.env \(a link out of the checkout\)"):
        check(checkout)


def test_a_reserved_name_in_the_env_file_stops_the_check(tmp_path):
    checkout = checkout_with(tmp_path, {"compose.yaml": "services: {}\n",
                                        ".env": "GIT_SSH_COMMAND=touch /tmp/x\n"})
    read = Reader()
    with pytest.raises(OtterError, match=r"\.env sets GIT_SSH_COMMAND \(line 1\)"):
        checked_config(ComposeTarget("p", checkout, ("compose.yaml",), (checkout / ".env",)),
                       checkout, "a", frozenset(Access), read=read)
    assert read.calls == 0


def test_files_are_read_bounded_and_never_block(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (compose_raw.MAX_BYTES + 10))
    assert len(read_bounded(str(big)) or b"") == compose_raw.MAX_BYTES + 1
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_bounded(str(fifo)) is None
    assert read_bounded(str(tmp_path)) is None
    assert read_bounded(str(tmp_path / "missing")) is None
