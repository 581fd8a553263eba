"""Push keys in authorized_keys: one restricted, forced-command line per key inside our own
block; every other line left exactly as it was."""

import base64
import shlex
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.adapters.local.keys import (
    BEGIN,
    END,
    forced_command,
    parse_public_key,
    render_block,
    splice,
    unrestricted_keys,
    validate_key_name,
    write_authorized_keys,
)
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.ssh_gate import SshKey


def make_key(kind: str = "ssh-ed25519", body: bytes = b"\x00" * 36) -> str:
    blob = struct.pack(">I", len(kind)) + kind.encode() + body
    return f"{kind} {base64.b64encode(blob).decode()}"


KEY = make_key()
PROGRAM = "/opt/otterstack/venv/bin/otterstack"
DATA = "/home/deploy/.local/share/otterstack"


def test_a_public_key_is_normalised_and_its_comment_dropped():
    assert parse_public_key(f"{KEY} alice@laptop\n") == KEY
    assert parse_public_key(f"# mine\n\n{KEY}") == KEY


@pytest.mark.parametrize(("text", "why"), [
    ("", "no public key"),
    (f'command="sh" {KEY}', "not an OpenSSH public key"),
    (f"no-pty {KEY}", "not an OpenSSH public key"),
    (f"{KEY}\n{KEY}", "exactly one"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
     "private key"),
    ("ssh-ed25519 not-base64!", "not valid base64"),
    (make_key().replace("ssh-ed25519", "ssh-rsa", 1), "not a ssh-rsa key"),
])
def test_bad_keys_are_refused_with_the_reason(text, why):
    with pytest.raises(OtterError, match=why):
        parse_public_key(text)


def test_the_block_restricts_every_key_to_the_forced_command():
    keys = [SshKey("bob", KEY, "b", False, 0), SshKey("alice", KEY, "a", False, 0)]
    block = render_block(keys, PROGRAM, DATA)
    lines = block.splitlines()
    assert lines[0] == BEGIN and lines[-1] == END
    assert lines[1] == (f'restrict,command="OTTERSTACK_DATA_DIR={DATA} {PROGRAM} ssh alice" '
                        f"{KEY} otterstack:alice")
    assert lines[2].startswith('restrict,command="') and "ssh bob" in lines[2]


@pytest.mark.parametrize("path", ['/a"b', "/a\\b", "/a\nb", "relative/otterstack"])
def test_paths_that_cannot_be_quoted_in_authorized_keys_are_refused(path):
    with pytest.raises(OtterError, match="cannot be used in authorized_keys"):
        forced_command(path, DATA, "alice")
    with pytest.raises(OtterError, match="cannot be used in authorized_keys"):
        forced_command(PROGRAM, path, "alice")


def test_splice_keeps_other_lines_and_replaces_only_our_block():
    other = f"{KEY} admin@desk\nno-pty {KEY} backup\n"
    first = splice(other, render_block([SshKey("a", KEY, "x", False, 0)], PROGRAM, DATA))
    assert first.startswith(other) and "ssh a" in first
    second = splice(first, render_block([], PROGRAM, DATA))
    assert second == other + BEGIN + "\n" + END + "\n"
    assert splice(second, render_block([], PROGRAM, DATA)) == second
    with pytest.raises(OtterError, match="damaged OtterStack block"):
        splice(other + BEGIN + "\n", render_block([], PROGRAM, DATA))


def test_unrestricted_keys_are_found_outside_our_block():
    text = (f"{KEY} admin@desk\n"
            f'restrict,command="/bin/true" {KEY} cron\n'
            f"no-port-forwarding {KEY} half-restricted\n"
            + render_block([SshKey("a", KEY, "x", False, 0)], PROGRAM, DATA))
    assert unrestricted_keys(text) == ["ssh-ed25519 (admin@desk)",
                                       "ssh-ed25519 (half-restricted)"]


def test_authorized_keys_is_written_0600_atomically_and_never_through_a_link(tmp_path):
    path = tmp_path / ".ssh" / "authorized_keys"
    write_authorized_keys(path, "x\n")
    assert path.read_text() == "x\n" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert [p.name for p in path.parent.iterdir()] == ["authorized_keys"]
    path.unlink()
    target = tmp_path / "elsewhere"
    path.symlink_to(target)
    with pytest.raises(OtterError, match="symbolic link"):
        write_authorized_keys(path, "y\n")
    assert not target.exists()


# properties
NAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,39}", fullmatch=True)
LINES = st.lists(st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
                         max_size=30)
                 .filter(lambda s: s.strip() not in (BEGIN, END)), max_size=6)


@given(NAMES)
def test_valid_names_survive_the_shell_as_one_word(name):
    command = forced_command(PROGRAM, DATA, validate_key_name(name))
    assert shlex.split(command) == [f"OTTERSTACK_DATA_DIR={DATA}", PROGRAM, "ssh", name]
    assert '"' not in command and "\\" not in command


@given(st.text(max_size=45))
def test_a_name_is_either_valid_or_refused_clearly(name):
    try:
        validate_key_name(name)
    except OtterError as exc:
        assert "invalid key name" in str(exc)
    else:
        assert shlex.quote(name) == name


@given(LINES, st.lists(NAMES, max_size=4, unique=True), st.lists(NAMES, max_size=4,
                                                                unique=True))
def test_rewriting_the_block_never_touches_other_lines(other, names_a, names_b):
    base = "".join(line + "\n" for line in other)
    block_a = render_block([SshKey(n, KEY, "x", False, 0) for n in names_a], PROGRAM, DATA)
    block_b = render_block([SshKey(n, KEY, "x", True, 0) for n in names_b], PROGRAM, DATA)
    once = splice(base, block_a)
    twice = splice(once, block_b)
    assert twice == splice(base, block_b)
    ours = block_b.split("\n")
    kept = [line for line in twice.split("\n") if line not in ours]
    assert kept == [line for line in base.split("\n") if line not in ours]
    assert len(unrestricted_keys(twice)) == len(unrestricted_keys(base))
