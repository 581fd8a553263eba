"""Validation of every outside name that becomes a path, a compose project, a label or a ref.

Names are checked before anything is written, so a hostile or mistyped name can never escape
the data dir, collide with another app's compose project or reach a command line as an option.
"""

import re

from otterstack_hooks.core.errors import OtterError

APP_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$|^[a-z0-9]$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
SHA_RE = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
ZERO_SHA = "0" * 40


def validate_app_name(name: str) -> str:
    """An app name is a DNS label: lower case letters, digits and inner dashes, 1-40 chars."""
    if not isinstance(name, str) or not APP_NAME_RE.fullmatch(name):
        raise OtterError(
            f"invalid app name {name!r}: use 1-40 lower-case letters, digits and dashes, "
            "starting and ending with a letter or digit (e.g. 'myapp')"
        )
    return name


# a dash-separated part of an app name that would read as a release or the singletons'
# project: app `shop`'s release r7 is project `shop-r7`, its images `shop-r7-<service>`, so
# an app named `shop-r7` (images `shop-r7-r1-web`) would share names with shop's service
# `r1-web`. New apps may not take such names; apps registered before keep theirs.
_RELEASE_PART = re.compile(r"(?:^|-)(?:r[0-9]+|state)(?:-|$)")


def validate_new_app_name(name: str) -> str:
    """A name for a new app: valid, and no part of it reads as a release or `state`."""
    validate_app_name(name)
    if _RELEASE_PART.search(name):
        raise OtterError(
            f"app name {name!r} has a part that reads as a release (r<N>) or as `state`: "
            "OtterStack names an app's compose projects and images `<app>-r<N>-...` and "
            "`<app>-state-...`, so that name could take another app's; choose another "
            "(e.g. 'shop-v7' instead of 'shop-r7')")
    return name


PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
RELEASE_RE = re.compile(r"r[0-9]+")


def validate_project_name(name: str) -> str:
    """A compose project we act on. Never empty: `docker compose -p "" down` falls back to
    the current directory's project, which is not ours to remove."""
    if not isinstance(name, str) or not PROJECT_RE.fullmatch(name):
        raise OtterError(f"refusing to act on compose project {name!r}: not a project name "
                         "OtterStack made (a damaged state record?); `otterstack releases APP`"
                         " shows the records")
    return name


def validate_release_name(name: str) -> str:
    """A release name (r<N>) that becomes a path under the app's dir: never empty, never
    `..`, so no path helper can name `releases/` itself or leave it."""
    if not isinstance(name, str) or not RELEASE_RE.fullmatch(name):
        raise OtterError(f"refusing to use release name {name!r}: not r<N> (a damaged state "
                         "record?); `otterstack releases APP` shows the records")
    return name


def is_release_name(name: str) -> bool:
    return isinstance(name, str) and bool(RELEASE_RE.fullmatch(name))


def validate_branch_name(name: str) -> str:
    """A branch we deploy from is a plain git branch name without tricks."""
    if (
        not name
        or name.startswith(("-", "/", "."))
        or name.endswith(("/", ".", ".lock"))
        or ".." in name
        or "//" in name
        or "@{" in name
        or _REF_FORBIDDEN.search(name)
    ):
        raise OtterError(f"invalid branch name {name!r}: use a plain git branch name like 'main'")
    return name


def validate_compose_file(path: str) -> str:
    """The compose file is a relative path inside the repo, never outside it."""
    parts = path.split("/")
    if not path or path.startswith(("/", "-")) or any(p in ("", ".", "..") for p in parts):
        raise OtterError(
            f"invalid compose file {path!r}: give a path relative to the repo root, "
            "like 'compose.yaml' or 'deploy/compose.yml'"
        )
    if _REF_FORBIDDEN.search(path.replace(" ", "")):
        raise OtterError(f"invalid compose file {path!r}: it contains control characters or "
                         "one of ~^:?*[\\")
    return path


def is_sha(value: str) -> bool:
    return bool(SHA_RE.fullmatch(value))


def short(sha: str) -> str:
    return sha[:7]


def printable(text: str, limit: int = 200) -> str:
    """Render outside text (a ref name, a commit subject) safely on one terminal line."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def release_number(name: str) -> int:
    """`r12` -> 12: the release's place in the app's history, the minor key of its router
    priorities."""
    if not re.fullmatch(r"r[0-9]{1,9}", name):
        raise ValueError(f"not a release name: {name!r}")
    return int(name[1:])
