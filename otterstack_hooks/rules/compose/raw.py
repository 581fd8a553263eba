"""The compose files as committed, checked before Compose reads anything.

The compose policy (rules/compose/policy.py) judges the output of `docker compose config`. But
Compose is itself a reader of files while it makes that output: it follows `include:` (other
compose files, their `env_file:`s, remote git and OCI includes it fetches), `extends: {file:
...}`, services' `env_file:` and `label_file:`, and the project's `.env`. By the time the
policy sees the result, a host file has been read (its values interpolated where the
container can read them back) or a remote include fetched. So this module reads the committed
files first, with a bounded YAML loader, follows every local include and extends, and finds:

- each path Compose would read outside the checkout (HOST_FILES) and each remote include
  (REMOTE_INCLUDES), as a compose_access.Refusal, worded as the policy's own;
- each variable of an env file Compose reads for interpolation whose name steers Compose,
  Docker, the builder, git or the dynamic loader themselves (`Reserved`; no token allows one).

Pure: files are read only through the `read` callable and links followed only through the
`resolve` callable the caller passes (policy_check), so unit tests give a dict and the
identity. Nothing outside the checkout is ever read: a file found outside it is refused (or,
once an admin allowed it, left to Compose), never followed.
"""

import base64
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.access import Access, Refusal
from otterstack_hooks.rules.compose.policy import _inside_checkout, explain

Reader = Callable[[str], bytes | None]  # absolute path -> its first MAX_BYTES+1 bytes, or None
Resolver = Callable[[str], str]  # a path with every link followed (identity in unit tests)

MAX_BYTES = 1024 * 1024  # a compose or env file; larger ones are not what people commit
MAX_NODES = 100_000  # YAML nodes once every alias is expanded (as Compose would expand them)
MAX_FILES = 64  # compose files followed through include and extends, in all
MAX_DEPTH = 10  # includes and extends within each other

# Read by the programs themselves, not only for ${VAR}: Compose (COMPOSE_FILE, _PROFILES,
# _PROJECT_NAME, _EXPERIMENTAL_GIT_REMOTE...), the docker CLI (DOCKER_HOST, DOCKER_CONFIG),
# the builder, git when Compose fetches a remote include (GIT_SSH_COMMAND runs a program), and
# the dynamic loader (LD_PRELOAD): Compose releases up to mid-2024 copied every `.env`
# variable into their own environment, which the programs they start inherit.
RESERVED = {
    "COMPOSE_": "Compose reads COMPOSE_* itself (which files, profiles and project, remote "
                "includes)",
    "DOCKER_": "the docker CLI reads DOCKER_* itself (which daemon, config and credentials)",
    "BUILDKIT_": "the builder reads BUILDKIT_* itself",
    "BUILDX_": "the builder reads BUILDX_* itself",
    "GIT_": "git reads GIT_* itself when Compose fetches a remote include (GIT_SSH_COMMAND "
            "runs a program as the OtterStack user)",
    "LD_": "the dynamic loader reads LD_* in every program Compose starts (LD_PRELOAD loads "
           "a library into it)",
}
# A statement of compose-go's dotenv parser starts a line, or follows a closing quote on the
# same line (`A="x" B=y`); `export` may precede the name, `=` or `:` follow it.
_STATEMENT = re.compile(
    r"""(?:^|(?<=["']))[^\S\n]*(?:export)?[^\S\n]*([^\s=:#"']+)[^\S\n]*(?:[=:]|$)""", re.M)
# What Compose's resource loaders fetch: git (`https://...`, `ssh://`, `git@host:x`, and
# `github.com/...`, which BuildKit's git-ref parser takes for a GitHub repo) and OCI
# (`oci://`); any other `scheme:` or `user@host:` too, rather than guess which Compose takes.
_REMOTE = re.compile(r"://|^[A-Za-z][A-Za-z0-9+.-]*:|^[^/]*@[^/]*:|^github\.com/")


@dataclass(frozen=True)
class Reserved:
    """A variable in an env file Compose reads whose name a program reads for itself."""

    file: str  # relative to the checkout
    line: int
    name: str

    def message(self) -> str:
        prefix = next(p for p in RESERVED if self.name.startswith(p))
        return (f"{self.file} sets {self.name} (line {self.line}), but {RESERVED[prefix]}: "
                f"rename it (e.g. APP_{self.name}) there and in the compose file; no `allow` "
                "token covers this")


@dataclass(frozen=True)
class Findings:
    refusals: tuple[Refusal, ...] = ()
    reserved: tuple[Reserved, ...] = ()

    def explain(self, app: str, allowed: frozenset[Access], limit: int = 6) -> str | None:
        """One message for what `allowed` does not cover (None: nothing), each refusal as the
        policy words it, the reserved variables first (no allowance fixes those)."""
        lines = [r.message() for r in self.reserved[:limit]]
        if len(self.reserved) > limit:
            lines.append(f"... and {len(self.reserved) - limit} more such variables")
        refused = [r for r in self.refusals if r.access not in allowed]
        if refused:
            lines.append(explain(app, refused, allowed))
        return "; ".join(lines) or None


class _Loader(yaml.SafeLoader):
    """safe_load as Compose reads YAML: a tag it does not know (`!reset`, `!override`, a
    bare `=`) is its plain value, `!!binary` the decoded text. A file this cannot read is
    refused, never skipped: what goes unread here would go unchecked."""


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


def _binary(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)  # !!binary tags only a scalar
    text = str(loader.construct_scalar(node))
    return base64.b64decode("".join(text.split())).decode("utf-8", "replace")


_Loader.add_constructor(None, _plain)
_Loader.add_constructor("tag:yaml.org,2002:binary", _binary)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _expanded_size(root: yaml.Node, name: str) -> int:
    """Nodes once every alias is expanded, computed without expanding (each node once), up
    to MAX_NODES + 1; OtterError for an alias inside its own anchor."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            open_.discard(id(node))
            total = 1 + sum(sizes[id(c)] for c in _children(node))
            sizes[id(node)] = min(total, MAX_NODES + 1)
        elif id(node) in open_:
            raise OtterError(f"compose file {name}: an alias refers to its own anchor")
        elif id(node) not in sizes:
            open_.add(id(node))
            stack.append((node, True))
            stack += [(c, False) for c in _children(node) if id(c) not in sizes]
    return sizes[id(root)]


def load(content: bytes, name: str) -> list[Any]:
    """The documents of a compose file, bounded: at most MAX_BYTES, MAX_NODES once aliases are
    expanded (an alias bomb is refused before anything expands it); OtterError otherwise."""
    if len(content) > MAX_BYTES:
        raise OtterError(f"compose file {name} is larger than {MAX_BYTES // 1024} KiB, more "
                         "than OtterStack reads to check it; make it smaller")
    documents = []
    loader = None
    try:
        loader = _Loader(content)  # bytes: a BOM (UTF-16) is read as Compose reads it
        while loader.check_node():
            node = loader.get_node()
            if node is not None and _expanded_size(node, name) > MAX_NODES:
                raise OtterError(f"compose file {name} has more than {MAX_NODES:,} YAML nodes "
                                 "once its aliases are expanded (an alias bomb?)")
            documents.append(loader.construct_document(node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise OtterError(f"compose file is invalid: {name}: {problem}{where}") from None
    except RecursionError:
        raise OtterError(f"compose file {name} is nested too deeply to check") from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents


def reserved_variables(text: str, file: str) -> list[Reserved]:
    """The reserved names an env file sets, found line by line as compose-go's dotenv parser
    starts its statements. A line inside a multi-line quoted value that looks like `NAME=` is
    reported too: a false positive (rename or reword it) is the price of never missing one."""
    found = []
    for match in _STATEMENT.finditer(text):
        name = match.group(1)
        if name.startswith(tuple(RESERVED)):
            found.append(Reserved(file, text.count("\n", 0, match.start(1)) + 1, name))
    return found


def _text(value: Any) -> str | None:
    """A path as Compose reads it: a string, a number as text, an entry's `path` (`env_file:
    [{path: ...}]`); None for what is no path."""
    if isinstance(value, dict):
        value = value.get("path")
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


@dataclass
class _Walk:
    """One scan: the checkout, how to read and resolve, and what was found so far."""

    checkout: str
    read: Reader
    resolve: Resolver
    refusals: list[Refusal] = field(default_factory=list)
    reserved: list[Reserved] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)

    def shown(self, path: str) -> str:
        return posixpath.relpath(posixpath.normpath(path), self.checkout)

    def refuse(self, where: tuple[str, str, str], detail: str, access: Access) -> None:
        file, service, key = where
        shown = f"{detail} (in {file})" if file else detail
        self.refusals.append(Refusal(service, key, shown, access))

    def local(self, value: Any, workdir: str, where: tuple[str, str, str]) -> str | None:
        """`value` joined to `workdir` if it is a path inside the checkout, else None and
        the refusal: absolute (or `~`), interpolated (`$`), or leaving the checkout as
        written or once links are followed. `where`: (file, service, key)."""
        text = _text(value)
        if not text:
            return None
        path = posixpath.join(workdir, text)
        if (text.startswith(("/", "~")) or "$" in text
                or not _inside_checkout(path, self.checkout, self.resolve)):
            self.refuse(where, text, Access.HOST_FILES)
            return None
        return path

    def compose_file(self, value: Any, workdir: str, where: tuple[str, str, str]
                     ) -> str | None:
        """A compose file to follow (an include's or extends' path), or None and the refusal
        (REMOTE_INCLUDES for what Compose would fetch, else as `local`)."""
        text = _text(value)
        if text and _REMOTE.search(text):
            self.refuse(where, text, Access.REMOTE_INCLUDES)
            return None
        return self.local(value, workdir, where)

    def env_file(self, path: str, where: tuple[str, str, str]) -> None:
        """An env file Compose reads for interpolation (`path` made by us, from paths already
        checked): refused if a link takes it out of the checkout, else scanned."""
        if not _inside_checkout(path, self.checkout, self.resolve):
            self.refuse(where, f"{self.shown(path)} (a link out of the checkout)",
                        Access.HOST_FILES)
            return
        content = self.read(path)
        if content is None:
            return
        if len(content) > MAX_BYTES:
            raise OtterError(f"env file {self.shown(path)} is larger than "
                             f"{MAX_BYTES // 1024} KiB, more than OtterStack reads to check it")
        self.reserved += reserved_variables(content.decode("utf-8", "replace"),
                                            self.shown(path))

    def follow(self, path: str, workdir: str, depth: int) -> None:
        """Scan one compose file whose relative paths resolve from `workdir`."""
        if (path, workdir) in self.seen:
            return  # a cycle (Compose refuses it) or the same file twice
        if depth > MAX_DEPTH or len(self.seen) >= MAX_FILES:
            raise OtterError(f"compose files include or extend each other more than "
                             f"{MAX_DEPTH} deep or {MAX_FILES} files in all "
                             f"(at {self.shown(path)}); OtterStack checks no further")
        self.seen.add((path, workdir))
        content = self.read(path)
        if content is None:
            return  # missing: Compose says so itself
        name = self.shown(path)
        for document in load(content, name):
            if isinstance(document, dict):
                self.includes(document.get("include"), name, workdir, depth)
                self.services(document.get("services"), name, workdir, depth)

    def includes(self, entries: Any, name: str, workdir: str, depth: int) -> None:
        """`include:` as compose-go reads it: paths and env files from the including file's
        directory; the included project's directory (`project_directory`, else the first
        path's directory), where its `.env` is read unless `env_file` is given."""
        where = (name, "", "include")
        for entry in _listed(entries):
            entry = entry if isinstance(entry, dict) else {"path": entry}
            paths = [self.compose_file(p, workdir, where) for p in _listed(entry.get("path"))]
            env_files = [self.local(f, workdir, (name, "", "include.env_file"))
                         for f in _listed(entry.get("env_file"))]
            base = None
            if entry.get("project_directory") is not None:
                base = self.local(entry["project_directory"], workdir,
                                  (name, "", "include.project_directory"))
            elif paths and paths[0]:
                base = posixpath.dirname(paths[0])
            for path in filter(None, env_files):
                self.env_file(path, (name, "", "include.env_file"))
            if base is None:
                continue  # refused above: nothing of it is read here
            if not env_files:
                self.env_file(posixpath.join(base, ".env"), (name, "", "include .env"))
            for path in filter(None, paths):
                self.follow(path, base, depth + 1)

    def services(self, services: Any, name: str, workdir: str, depth: int) -> None:
        """Each service's `env_file`, `label_file` and `extends.file`; an extended file's
        relative paths resolve from its own directory."""
        for service, svc in services.items() if isinstance(services, dict) else ():
            if not isinstance(svc, dict):
                continue
            for value in _listed(svc.get("env_file")):
                self.local(value, workdir, (name, str(service), "env_file"))
            for value in _listed(svc.get("label_file")):
                self.local(value, workdir, (name, str(service), "label_file"))
            extends = svc.get("extends")
            if isinstance(extends, dict) and extends.get("file") is not None:
                path = self.compose_file(extends["file"], workdir,
                                         (name, str(service), "extends.file"))
                if path:
                    self.follow(path, posixpath.dirname(path), depth + 1)


def scan(compose_files: list[str], project_dir: str, checkout: str, read: Reader,
         resolve: Resolver = lambda p: p, env_files: tuple[str, ...] = ()) -> Findings:
    """Everything Compose would read for `docker compose -f FILE... --project-directory
    project_dir [--env-file ...]`, checked before it does (all paths absolute). Without
    `env_files` Compose reads the project directory's `.env` (through a link, too)."""
    walk = _Walk(posixpath.normpath(checkout), read, resolve)
    for path in env_files or (posixpath.join(project_dir, ".env"),):
        walk.env_file(path, ("", "", ".env"))
    for path in compose_files:
        if _inside_checkout(path, walk.checkout, resolve):
            walk.follow(path, project_dir, 0)
        else:  # the compose file, or a directory above it, is a link out of the checkout
            walk.refuse(("", "", "compose file"), f"{walk.shown(path)} (a link out of the "
                        "checkout)", Access.HOST_FILES)
    return Findings(tuple(walk.refusals), tuple(walk.reserved))

