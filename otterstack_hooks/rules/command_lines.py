"""Every command line OtterStack runs, as a value: the argument list, built and nothing more.

Kept apart from the code that runs them (adapters/compose/compose_cli.py, adapters/git/repo.py,
adapters/git/precheck.py, the doctor, the CLI) so that what we would run can be read, and
tested, as exact lists without Docker or git:
a flag that moves or a user value that could turn into an option shows up as a diff here.
Nothing in this module starts a process, touches a file or opens a socket. The lists go to
`process` as argv: no shell ever sees them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from otterstack_hooks.core.names import validate_project_name

DOCKER_COMPOSE = ("docker", "compose")
GIT = "git"


@dataclass(frozen=True)
class ComposeTarget:
    """One release as Compose sees it: project name, project dir and its -f files in order
    (relative to the directory, or absolute: the generated ones live outside the checkout).

    `environment` (the app's secrets) reaches Compose as its own process environment, never
    as argv and never through a dotenv file Compose would re-parse: Compose's `${VAR}`
    interpolation reads it, and `environment: [KEY]` entries take it byte for byte."""

    project: str
    directory: Path
    files: tuple[str | Path, ...]
    env_files: tuple[Path, ...] = ()  # the project's own .env, for ${VAR} interpolation
    environment: Mapping[str, str] = field(default_factory=dict)
    revision: str = ""  # the commit it was checked out from: Swarm tags images by it

    def __post_init__(self) -> None:
        validate_project_name(self.project)

    def process_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` (our own environment, passed in by adapters/compose/compose_cli.py) plus the
        app's variables, which win (as they did in Compose)."""
        return {**base, **self.environment}

    def args(self) -> list[str]:
        """`docker compose` with this release's project, directory, env files and -f files:
        the head of every command that acts on the release."""
        args = [*DOCKER_COMPOSE, "-p", self.project, "--project-directory",
                str(self.directory)]
        for env_file in self.env_files:
            args += ["--env-file", str(env_file)]
        for name in self.files:  # one -f per file: compose does not split on commas
            args += ["-f", str(self.directory / name)]
        return args


# docker compose, on a release's files


def compose_config(target: ComposeTarget, interpolate: bool = True) -> list[str]:
    """The merged, normalised config as JSON; un-interpolated (`${VAR}` left as written, and
    `env_file:` entries still named) when `interpolate` is off."""
    args = [*target.args(), "config", "--format", "json"]
    return args if interpolate else [*args, "--no-interpolate"]


def compose_build(target: ComposeTarget, services: Sequence[str]) -> list[str]:
    """Build the images of the named services (those with a `build:`) before anything starts."""
    return [*target.args(), "build", *services]


def compose_up(target: ComposeTarget, services: Sequence[str]) -> list[str]:
    """Start the named services only (--no-deps: singletons run in their own project), with
    the images already built (--no-build) and without waiting on the terminal (--detach)."""
    return [*target.args(), "up", "--detach", "--no-build", "--no-deps", *services]


def compose_pull(target: ComposeTarget, service: str) -> list[str]:
    """`--` first: a service name never reads as an option."""
    return [*target.args(), "pull", "--", service]


def compose_run_once(target: ComposeTarget, service: str, command: Sequence[str]) -> list[str]:
    """A one-off container of the release, removed afterwards, without a TTY (-T: its output
    is streamed, not a terminal) and labelled so Traefik never sends it traffic."""
    return [*target.args(), "run", "--rm", "--no-deps", "-T", "--label",
            "traefik.enable=false", service, *command]


# docker compose, on a project by name (its containers' labels say where they came from)


def compose_stop(project: str, timeout: int | None = None,
                 services: Sequence[str] = ()) -> list[str]:
    """Stop gracefully: SIGTERM, then the services' own stop grace period (or `timeout` s).
    Needs no compose file: Compose finds the project's containers by their labels."""
    args = [*DOCKER_COMPOSE, "-p", validate_project_name(project), "stop"]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    return [*args, *_services(services)]


def compose_start(project: str, services: Sequence[str]) -> list[str]:
    """Start stopped containers of a project again, as they were (no file, no recreation)."""
    return [*DOCKER_COMPOSE, "-p", validate_project_name(project), "start",
            *_services(services)]


def _services(services: Sequence[str]) -> list[str]:
    """Service names after `--`: a name can never be read as an option."""
    return ["--", *services] if services else []


def compose_down(project: str, timeout: int | None = None, remove_images: bool = False
                 ) -> list[str]:
    """Remove containers and networks, and those the release no longer names (orphans), and
    with `remove_images` the images it built itself (`--rmi local`); never named volumes."""
    args = [*DOCKER_COMPOSE, "-p", validate_project_name(project), "down", "--remove-orphans"]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    if remove_images:
        args += ["--rmi", "local"]
    return args


def compose_logs(project: str, service: str = "", follow: bool = False, tail: int = 200
                 ) -> list[str]:
    """The containers' own logs: the last `tail` lines, then new ones as they come if
    `follow`; one service's only if named (after `--`, so never read as an option)."""
    args = [*DOCKER_COMPOSE, "-p", project, "logs", "--tail", str(tail)]
    if follow:
        args.append("--follow")
    if service:
        args += ["--", service]
    return args


def compose_version() -> list[str]:
    """The plugin's version alone (e.g. `2.27.0`), not the banner."""
    return [*DOCKER_COMPOSE, "version", "--short"]


# docker stack / service (the Swarm runtime); names are ours (validated) or after `--`

DOCKER = "docker"


def stack_deploy(stack: str, file: PurePath) -> list[str]:
    """Create or update a stack from our rendered file. `--resolve-image never`: images are
    pinned by OtterStack (digest, or a local tag on one node), so no registry is asked;
    `--with-registry-auth` hands the manager's registry login to the nodes that pull;
    `--detach=true`: we wait for the tasks ourselves, with our own limit."""
    return [DOCKER, "stack", "deploy", "--detach=true", "--resolve-image", "never",
            "--with-registry-auth", "-c", str(file), validate_project_name(stack)]


def stack_rm(stack: str) -> list[str]:
    """Remove a stack's services, networks, secrets and configs (never a volume)."""
    return [DOCKER, "stack", "rm", validate_project_name(stack)]


def service_labels(service: str, add: Mapping[str, str]) -> list[str]:
    """Change a service's own labels (Traefik's swarm provider reads them); its tasks keep
    running: a service label is not part of the task spec."""
    args = [DOCKER, "service", "update", "--detach", "--quiet"]
    for key, value in sorted(add.items()):
        args += ["--label-add", f"{key}={value}"]
    return [*args, "--", service]


def service_logs(name: str, tail: int = 200, follow: bool = False) -> list[str]:
    """A service's (or one task's) logs from every node, the last `tail` lines."""
    args = [DOCKER, "service", "logs", "--tail", str(tail), "--no-trunc"]
    if follow:
        args.append("--follow")
    return [*args, "--", name]


def image_push(reference: str) -> list[str]:
    """Push one tag to its registry (the registry is part of the reference)."""
    return [DOCKER, "push", "--", reference]


# git


def git_rev_parse_commit(ref: str) -> list[str]:
    """The full sha of the commit a sha, branch or tag names; nothing (and a failure) if it
    names no commit: `--verify --quiet`, and `^{commit}` peels an annotated tag."""
    return [GIT, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]


def git_rev_parse_branch(branch: str) -> list[str]:
    """The sha a local branch points at (`refs/heads/...`: never a tag of the same name)."""
    return [GIT, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"]


def git_worktree_add(path: PurePath, sha: str) -> list[str]:
    """Check `sha` out, detached (no branch is moved or locked), into the new dir `path`."""
    return [GIT, "worktree", "add", "--detach", str(path), sha]


def git_worktree_remove(path: PurePath) -> list[str]:
    """Remove a worktree even with changes in it (--force: generated files are ours)."""
    return [GIT, "worktree", "remove", "--force", str(path)]


def git_worktree_prune() -> list[str]:
    """Forget the worktrees whose directories are gone."""
    return [GIT, "worktree", "prune"]


def git_ls_tree(sha: str) -> list[str]:
    """Every blob of the commit, recursively, with its size, NUL-terminated records."""
    return [GIT, "ls-tree", "-r", "-l", "-z", sha]


def git_ls_tree_lines(sha: str) -> list[str]:
    """Every entry of the commit, recursively, with its size, one line each (counted as they
    stream, so a huge tree is stopped early: paths may come quoted, only sizes are read)."""
    return [GIT, "ls-tree", "-r", "-l", sha]


def git_cat_file_batch() -> list[str]:
    """Blobs' contents for the shas written to stdin, one per line, in one process."""
    return [GIT, "cat-file", "--batch"]


def git_version() -> list[str]:
    """`git version 2.39.5`: doctor checks git is new enough for worktrees."""
    return [GIT, "--version"]


def git_is_bare(repo: PurePath) -> list[str]:
    """Whether exactly this dir is a bare repo: --git-dir means no discovery in parents."""
    return [GIT, f"--git-dir={repo}", "rev-parse", "--is-bare-repository"]


def git_config_bool(repo: PurePath, key: str) -> list[str]:
    """A boolean setting of exactly this repo, normalised to `true`/`false`."""
    return [GIT, f"--git-dir={repo}", "config", "--type=bool", "--get", key]


def git_serve(verb: str, repo: str) -> list[str]:
    """The git server side of a push or fetch over SSH (`receive-pack` or `upload-pack`), on
    the repo we chose; `--` so no path reads as an option."""
    return [GIT, verb, "--", repo]
