"""Decide what a push means: parse post-receive stdin and pick the one commit to deploy."""

from dataclasses import dataclass

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import ZERO_SHA, is_sha, printable

_HEADS = "refs/heads/"


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str

    @property
    def deleted(self) -> bool:
        return self.new == ZERO_SHA


@dataclass(frozen=True)
class PreviewPush:
    """With previews on, an update of a branch other than the deploy branch: deploy its
    preview (rules/preview), or remove it when the branch was deleted."""

    branch: str  # without refs/heads/, as git has it (the slug is made from it)
    update: RefUpdate

    @property
    def removal(self) -> bool:
        return self.update.deleted


@dataclass(frozen=True)
class PushPlan:
    """What to do with one push: the commit to deploy (if any), the previews to deploy or
    remove, and what to tell the pusher."""

    deploy: RefUpdate | None
    notes: tuple[str, ...]
    previews: tuple[PreviewPush, ...] = ()


def parse_ref_updates(text: str) -> list[RefUpdate]:
    """Parse git's `old new ref` lines; a malformed line is an error, never silently skipped."""
    updates = []
    for number, line in enumerate(text.split("\n"), 1):  # git separates with \n only
        if not line.strip():
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or not is_sha(parts[0]) or not is_sha(parts[1]) or not parts[2]:
            raise OtterError(
                f"hook input line {number} is not '<old-sha> <new-sha> <ref>': "
                f"{printable(line)!r}; is this script installed as a post-receive hook?"
            )
        updates.append(RefUpdate(parts[0], parts[1], parts[2]))
    return updates


def plan_push(updates: list[RefUpdate], branch: str, previews: bool = False) -> PushPlan:
    """Only the deploy branch deploys production, once per push; with `previews`, every other
    branch pushed or deleted is a preview to deploy or remove; everything else is accepted and
    explained. Production is told apart by the exact ref, so `Main` or `main/x` is a
    preview like any other branch."""
    target = f"refs/heads/{branch}"
    notes: list[str] = []
    deploy: RefUpdate | None = None
    found: list[PreviewPush] = []
    for update in updates:
        name = printable(update.ref)
        if update.ref != target and previews and update.ref.startswith(_HEADS):
            found.append(PreviewPush(update.ref.removeprefix(_HEADS), update))
        elif update.ref != target:
            kind = "tag" if update.ref.startswith("refs/tags/") else "ref"
            notes.append(f"{kind} {name} accepted, not deployed (only {branch} deploys)")
        elif update.deleted:
            notes.append(f"branch {branch} deleted: nothing deployed, the running release stays")
        else:
            deploy = update
    if not updates:
        notes.append("no refs were updated: nothing to deploy")
    return PushPlan(deploy, tuple(notes), tuple(found))
