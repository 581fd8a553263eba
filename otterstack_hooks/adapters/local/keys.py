"""Push keys: OtterStack's own block of the OtterStack user's `~/.ssh/authorized_keys`.

Every key in the block is `restrict,command="<otterstack> ssh NAME"`: sshd gives it no
shell, no pty and no forwarding, and runs only `otterstack ssh NAME`, which decides what the
key may do (rules/ssh_gate.py). The decisions (parse a key, render the block, splice it into the
file, find keys that are not restricted) are pure; `write_authorized_keys` is the one adapter.
"""

import base64
import binascii
import os
import re
import shlex
import struct
from collections.abc import Iterable
from pathlib import Path

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.ssh_gate import SshKey

BEGIN = "# BEGIN otterstack keys: managed by `otterstack keys`; edits inside are overwritten"
END = "# END otterstack keys"
KEY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})
# characters that cannot appear inside authorized_keys' command="..." safely
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')


def validate_key_name(name: str) -> str:
    """A key's name is what release records show as the pusher, and it reaches the forced
    command: lower-case letters, digits, dots, dashes and underscores only."""
    if not KEY_NAME_RE.fullmatch(name or ""):
        raise OtterError(f"invalid key name {name!r}: use 1-40 lower-case letters, digits, "
                         "dots, dashes and underscores, starting with a letter or digit "
                         "(e.g. 'alice' or 'ci-bot')")
    return name


def parse_public_key(text: str) -> str:
    """One OpenSSH public key (`ssh-ed25519 AAAA... comment`) as `type base64`. Options, a
    second key, a private key or a key whose blob does not match its type are refused: the
    block's options are ours alone."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    if not lines:
        raise OtterError("no public key given: pipe one in (`otterstack keys add NAME < "
                         "id_ed25519.pub`) or use --file")
    if len(lines) > 1:
        if "PRIVATE KEY" in text:
            raise OtterError("that is a private key: give the public one (the .pub file)")
        raise OtterError(f"give exactly one public key, not {len(lines)} lines")
    parts = lines[0].split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise OtterError(
            f"not an OpenSSH public key: it must start with one of {', '.join(sorted(KEY_TYPES))}"
            " (options such as command= are added by OtterStack, not taken from the key)")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as exc:
        raise OtterError("the public key's data is not valid base64 key material") from exc
    if embedded != parts[0] or len(blob) <= 4 + length:
        raise OtterError(f"the public key's data is not a {parts[0]} key")
    return f"{parts[0]} {parts[1]}"


def forced_command(otterstack: str, data_dir: str, name: str) -> str:
    """What sshd runs for key `name` (through the user's shell: every part is quoted, and
    paths that cannot be quoted inside command="..." are refused)."""
    validate_key_name(name)
    for what, value in (("the otterstack program", otterstack), ("the data dir", data_dir)):
        if not value.startswith("/") or _UNQUOTABLE.search(value):
            raise OtterError(f"{what} path {value!r} cannot be used in authorized_keys: it "
                             "must be absolute, without quotes, backslashes or control "
                             "characters")
    return (f"OTTERSTACK_DATA_DIR={shlex.quote(data_dir)} {shlex.quote(otterstack)} "
            f"ssh {shlex.quote(name)}")


def render_block(keys: Iterable[SshKey], otterstack: str, data_dir: str) -> str:
    """OtterStack's block of authorized_keys, one restricted line per key."""
    lines = [BEGIN]
    for key in sorted(keys, key=lambda k: k.name):
        command = forced_command(otterstack, data_dir, key.name)
        lines.append(f'restrict,command="{command}" {parse_public_key(key.public_key)} '
                     f"otterstack:{key.name}")
    lines.append(END)
    return "\n".join(lines) + "\n"


def splice(existing: str, block: str) -> str:
    """`existing` authorized_keys with OtterStack's block replaced by `block` (or appended),
    every other line kept as it was."""
    lines = existing.split("\n")  # sshd's lines: not str.splitlines(), which splits more
    if lines and lines[-1] == "":
        lines.pop()
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if not begins and not ends:
        kept = lines
        at = len(kept)
    elif len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0]:
        kept = lines[:begins[0]] + lines[ends[0] + 1:]
        at = begins[0]
    else:
        raise OtterError("authorized_keys has a damaged OtterStack block (its BEGIN and END "
                         "lines do not pair up); fix or remove those lines by hand, then "
                         "retry")
    out = kept[:at] + block.rstrip("\n").split("\n") + kept[at:]
    return "\n".join(out) + "\n"


def unrestricted_keys(text: str) -> list[str]:
    """Keys outside OtterStack's block that give a shell: no `restrict`/`no-pty` and no
    forced command. (For `doctor`: such a key bypasses every OtterStack permission.)"""
    found, inside = [], False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
        elif stripped == END:
            inside = False
        elif stripped and not stripped.startswith("#") and not inside:
            options = "" if stripped.split()[0] in KEY_TYPES else stripped.split()[0]
            has_command = re.search(r'(^|,)command="', options) is not None
            if not has_command:
                parts = stripped.split()
                at = 0 if not options else 1
                comment = " ".join(parts[at + 2:]) if len(parts) > at + 2 else "no comment"
                found.append(f"{parts[at] if len(parts) > at else '?'} ({comment})")
    return found


def authorized_keys_path() -> Path:
    """The OtterStack user's authorized_keys (from the password database, not $HOME)."""
    import pwd
    return Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".ssh" / "authorized_keys"


def write_authorized_keys(path: Path, content: str) -> None:
    """Atomic rewrite, 0600, never through a link."""
    ssh_dir = path.parent
    if ssh_dir.is_symlink() or path.is_symlink():
        raise OtterError(f"{path} (or its directory) is a symbolic link; OtterStack does not "
                         "write through links: make it a plain file")
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    tmp = ssh_dir / f".authorized_keys.otterstack.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
