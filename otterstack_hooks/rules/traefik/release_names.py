"""The names a release's Traefik definitions take: `<name>~<project>` (pure).

Traefik has one namespace of router, service and middleware names per provider, shared by
every app on the host. A release renames each name its labels define (labels.py) so it can
run next to the release it replaces; the renamed name must also be no other app's, whatever
names their pushers write. Projects are `<app>-r<N>` or a preview's `<app>_<slug>-r<N>`
(`[a-z0-9_-]`), and the names a label may define are `[A-Za-z0-9_-]` (label_keys.NAME): with
`-` between them (the scheme before 2026-12-08), app `a`'s router `shop-x` and app `x-a`'s
router `shop` both became `shop-x-a-r2`. `~` is in neither alphabet, so a renamed name
splits at its last `~` into exactly one (name, project): two releases (of one app or two)
never define the same name, and no renamed name is a name written without renaming.
Traefik 3.7 keeps `~` in names from container labels, the file provider, its API (an
unreserved character in a URL) and the Prometheus labels of its metrics
(docs/design/previews.md, "Traefik names").

Releases deployed before keep their `<name>-<project>` names on their running containers;
they are found by the exact names their own labels define (api_answers.release_routers_of),
never by a suffix, and `original_name` reads both forms.
"""

SEPARATOR = "~"


def release_name(name: str, project: str) -> str:
    """The name `name` (as the labels wrote it) takes in the release `project`."""
    return f"{name}{SEPARATOR}{project}"


def original_name(renamed: str, project: str) -> str:
    """The name as the user wrote it, from the name the release `project` defines it by
    (`site~shop-r6`, or `site-shop-r6` from a release deployed before `~`)."""
    for separator in (SEPARATOR, "-"):
        suffix = f"{separator}{project}"
        if renamed.endswith(suffix) and len(renamed) > len(suffix):
            return renamed.removesuffix(suffix)
    return renamed
