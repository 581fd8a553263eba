"""What a push key may run over SSH: the forced command `otterstack ssh NAME`.

sshd puts whatever the client asked for in SSH_ORIGINAL_COMMAND. No shell ever sees it: it is
either exactly the `git-receive-pack '<path>'` (or `git-upload-pack`) form git sends, for the
repo of an app the key may push, or one of a fixed set of OtterStack commands. Everything
else is refused before anything runs. Parsing and deciding are pure; cli.cmd_ssh acts.
"""

import posixpath
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable


@dataclass
class SshKey:
    name: str
    public_key: str  # one authorized_keys key: "<type> <base64> [comment]"
    apps: str  # comma-separated app names, "*" for all apps
    admin: bool
    added_at: float

    def may_push(self, app: str) -> bool:
        return self.admin or self.apps == "*" or app in self.apps.split(",")


class Refused(OtterError):
    """A request over SSH that this key may not make; nothing was run."""


class GitVerb(StrEnum):
    RECEIVE_PACK = "git-receive-pack"  # git push
    UPLOAD_PACK = "git-upload-pack"  # git fetch / clone


@dataclass(frozen=True)
class GitRequest:
    verb: GitVerb
    path: str


@dataclass(frozen=True)
class OtterRequest:
    argv: tuple[str, ...]


# What a key that may push an app may also run for that app; admins may run everything.
PUSHER_COMMANDS = frozenset({"status", "releases", "logs", "deploy", "rollback", "pin",
                             "unpin", "previews"})
ADMIN_COMMANDS = PUSHER_COMMANDS | {"env", "keys", "config"}
USAGE = ("this key may only `git push`/`git fetch` the repos of its apps, or run "
         f"`otterstack {{{','.join(sorted(PUSHER_COMMANDS))}}} APP ...` "
         f"(admins also {', '.join(sorted(ADMIN_COMMANDS - PUSHER_COMMANDS))})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# No shell reads an OtterStack command, but one that looks like shell is someone trying:
# refuse it instead of guessing what they meant.
_SHELL_META = re.compile(r"[;&|$`<>(){}\\]")


def _unquote_git_path(text: str) -> str:
    """Undo git's sq_quote exactly: `'a'\\''b'` is a'b and `'a'\\!'b'` is a!b; any other
    shape (two words, a `;`, an unquoted word, a dangling quote) is refused."""
    out: list[str] = []
    i = 0
    if not text.startswith("'"):
        raise Refused("the repo path is not in the quoted form git sends")
    while True:
        end = text.find("'", i + 1)
        if end < 0:
            raise Refused("the repo path has an unterminated quote")
        out.append(text[i + 1:end])
        i = end + 1
        if i == len(text):
            return "".join(out)
        if text[i:i + 3] in ("\\''", "\\!'"):
            out.append(text[i + 1])
            i += 2
            continue
        raise Refused("the repo path is not in the quoted form git sends "
                      f"(unexpected {printable(text[i:i + 10])!r})")


def parse_command(original: str | None) -> GitRequest | OtterRequest:
    """SSH_ORIGINAL_COMMAND -> a request, or Refused naming why and what is allowed."""
    if original is None or not original.strip():
        raise Refused(f"no shell here: {USAGE}")
    if _CONTROL.search(original):
        raise Refused(f"the command contains control characters; {USAGE}")
    verb, _, rest = original.partition(" ")
    if verb in tuple(GitVerb):
        path = _unquote_git_path(rest)
        if not path or "\x00" in path:
            raise Refused("empty repo path")
        return GitRequest(GitVerb(verb), path)
    if verb.startswith("git"):
        raise Refused(f"{printable(verb)!r} is not allowed; {USAGE}")
    if _SHELL_META.search(original):
        raise Refused(f"shell syntax is not accepted (no shell runs here); {USAGE}")
    try:
        argv = shlex.split(original)
    except ValueError as exc:
        raise Refused(f"cannot read the command ({exc}); {USAGE}") from exc
    if not argv or argv[0] not in ADMIN_COMMANDS:
        raise Refused(f"{printable(argv[0] if argv else original)!r} is not allowed; {USAGE}")
    return OtterRequest(tuple(argv))


def repo_app(path: str, home: str, repos: dict[str, str]) -> str:
    """The app whose bare repo `path` names (relative paths are from the user's home, as
    git over SSH means them; `x` also finds `x.git`). A `..` anywhere, or a path that is no
    registered app's repo, is refused."""
    if ".." in path.split("/"):
        raise Refused(f"repo path {printable(path)!r} contains '..': refused")
    full = posixpath.normpath(path if path.startswith("/") else posixpath.join(home, path))
    for app, repo in sorted(repos.items()):
        repo = posixpath.normpath(repo)
        if full in (repo, repo.removesuffix(".git")):
            return app
    raise Refused(f"{printable(path)!r} is not the repo of any app here; "
                  "`otterstack status` on the server lists the apps")


def authorize(key: SshKey, command: str, app: str | None) -> None:
    """May `key` run `otterstack COMMAND [APP]`? Refused says why."""
    if key.admin:
        if command not in ADMIN_COMMANDS:
            raise Refused(f"{command!r} is not allowed over SSH; {USAGE}")
        return
    if command not in PUSHER_COMMANDS:
        raise Refused(f"`{command}` is for admin keys only (this key, {key.name}, is not one)")
    if not app:
        raise Refused(f"name the app: `{command} APP` (key {key.name} may use "
                      f"{key.apps or 'no app'})")
    if not key.may_push(app):
        raise Refused(f"key {key.name} may not use app {printable(app)!r} (it may use "
                      f"{key.apps or 'no app'}); an admin runs "
                      f"`otterstack keys add {key.name} --apps ...` to change that")


def authorize_git(key: SshKey, app: str) -> None:
    if not key.may_push(app):
        raise Refused(f"key {key.name} may not push app {app!r} (it may push "
                      f"{key.apps or 'no app'}); an admin runs "
                      f"`otterstack keys add {key.name} --apps ...` to change that")
