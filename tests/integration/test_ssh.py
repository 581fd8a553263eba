"""Pushes over real SSH: Debian's sshd on a free loopback port (its own host key and config),
a real non-root OtterStack user in the docker group, restricted keys written by `otterstack
keys add`, and real `git push ssh://...`. Every attack in docs/security.md's table is here.

scripts/setup-ssh.sh (run by scripts/test.sh) installs openssh-server; this module starts
and stops its own sshd and creates and removes its own user.
"""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, RUN_ID, Push, compose_with, example_files, free_port, run, wait_for

USER = f"otter{RUN_ID}"
PRIVILEGED = "    privileged: true\n"
SOCKET = "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"
HOST_ROOT = "    volumes:\n      - /:/host:ro\n"
SOCKET_AND_ROOT = ("    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"
                   "      - /:/host:ro\n")


@dataclass
class Server:
    user: str
    home: Path
    port: int
    keys: Path  # the client's private keys, by name

    def as_user(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """A command as the OtterStack user, from a login-like minimal environment."""
        env = [f"HOME={self.home}", f"USER={self.user}", "LANG=C.UTF-8",
               f"PATH={self.home}/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
               "/usr/bin:/sbin:/bin"]
        env += [f"{k}={v}" for k, v in os.environ.items() if k.startswith("PIP_")]
        return run(["runuser", "-u", self.user, "--", "env", "-i", *env, *args], input=stdin,
                   cwd=str(self.home))

    def otter(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return self.as_user(f"{self.home}/.local/bin/otterstack", *args, stdin=stdin)

    def ssh_command(self, key: str) -> list[str]:
        return ["ssh", "-F", "/dev/null", "-i", str(self.keys / key), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-p", str(self.port)]

    def ssh(self, key: str, *remote: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
        return run([*self.ssh_command(key), f"{self.user}@127.0.0.1", *remote], input=stdin,
                   stdin=subprocess.DEVNULL if stdin is None else None)

    def new_key(self, name: str) -> str:
        path = self.keys / name
        proc = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@client",
                    "-f", str(path)])
        assert proc.returncode == 0, proc.stderr
        return (self.keys / f"{name}.pub").read_text()

    def repo(self, app: str) -> Path:
        return self.home / "git" / f"{app}.git"

    def url(self, app: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.repo(app)}"

    def ref(self, app: str) -> str:
        proc = self.as_user("git", "-C", str(self.repo(app)), "rev-parse", "-q", "--verify",
                            "refs/heads/main")
        return proc.stdout.strip()

    def releases(self, app: str) -> list[dict]:
        proc = self.otter("releases", app, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@dataclass
class Client:
    """A developer's clone that pushes over SSH with one key."""

    server: Server
    app: str
    src: Path
    key: str

    def git(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "OTTERSTACK_"))}
        env.update(GIT_SSH_COMMAND=" ".join(self.server.ssh_command(self.key)),
                   GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.test",
                   GIT_COMMITTER_NAME="dev", GIT_COMMITTER_EMAIL="dev@example.test",
                   NO_COLOR="1")
        return run(["git", "-C", str(self.src), *args], env=env)

    def commit(self, files: dict[str, str], message: str) -> str:
        for path, content in files.items():
            (self.src / path).parent.mkdir(parents=True, exist_ok=True)
            (self.src / path).write_text(content)
        assert self.git("add", "-A").returncode == 0
        assert self.git("commit", "-q", "--allow-empty", "-m", message).returncode == 0
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, url: str | None = None) -> Push:
        proc = self.git("push", url or self.server.url(self.app), "HEAD:main")
        return Push(proc.returncode, proc.stdout + proc.stderr)


def _start_sshd(base: Path, user: str, port: int) -> subprocess.Popen:
    host_key = base / "host_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    config = base / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"PidFile {base / 'sshd.pid'}", "AuthorizedKeysFile .ssh/authorized_keys",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "StrictModes yes", f"AllowUsers {user}", "LogLevel VERBOSE", "PermitRootLogin no",
        "Subsystem sftp internal-sftp", "",
    ]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                            stdout=open(base / "sshd.log", "w"), stderr=subprocess.STDOUT)
    wait_for(lambda: run(["ssh-keyscan", "-p", str(port), "127.0.0.1"]).returncode == 0
             or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, (base / "sshd.log").read_text()
    return proc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A non-root OtterStack user (docker group) with apps A and B installed by install.sh,
    an admin key added from its shell, and an sshd of our own."""
    assert Path("/usr/sbin/sshd").exists(), "no sshd: run scripts/setup-ssh.sh"
    base = tmp_path_factory.mktemp("ssh")
    base.chmod(0o755)
    run(["userdel", "-r", USER])  # a leftover of an interrupted run
    proc = run(["useradd", "-m", "-s", "/bin/bash", "-G", "docker", "-p", "*", USER])
    assert proc.returncode == 0, proc.stderr
    home = Path(f"/home/{USER}")
    keys_dir = base / "client"
    keys_dir.mkdir()
    port = free_port()
    sshd = _start_sshd(base, USER, port)
    srv = Server(USER, home, port, keys_dir)
    try:
        src = home / "otterstack-src"  # the user installs from its own copy of the checkout
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "*.egg-info", "tests", "benchmarks", "build"))
        run(["chown", "-R", f"{USER}:{USER}", str(src)], check=True)
        for app in (f"s{RUN_ID}a", f"s{RUN_ID}b"):
            proc = srv.as_user(str(src / "install.sh"), app)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        # a line of the user's own, which OtterStack must keep (and doctor must warn about)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text(f"# my own\n{srv.new_key('someone')}")
        run(["chown", "-R", f"{USER}:{USER}", str(ssh_dir)], check=True)
        (ssh_dir / "authorized_keys").chmod(0o600)
        proc = srv.otter("keys", "add", "admin", "--admin", stdin=srv.new_key("admin"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield srv
    finally:
        projects = run(["docker", "ps", "-a", "--format",
                        '{{.Label "com.docker.compose.project"}}']).stdout.split()
        for project in {p for p in projects if p.startswith(f"s{RUN_ID}")}:
            run(["docker", "compose", "-p", project, "down", "-t", "0"])
        sshd.terminate()
        sshd.wait(timeout=30)
        run(["pkill", "-u", USER])  # only this test user's processes
        run(["userdel", "-r", USER])


@pytest.fixture(scope="module")
def alice(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Client:
    """A pusher of app A only."""
    app = f"s{RUN_ID}a"
    proc = server.otter("keys", "add", "alice", "--apps", app, stdin=server.new_key("alice"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    src = tmp_path_factory.mktemp("alice-src")
    client = Client(server, app, src, "alice")
    assert client.git("init", "-q", "-b", "main").returncode == 0
    return client


def test_a_key_deploys_its_app_and_nothing_else(server: Server, alice: Client):
    first = alice.commit(example_files(), "first")
    push = alice.push()
    assert push.returncode == 0 and "==> deployed" in push.result, push.output
    assert server.releases(alice.app)[0]["pushed_by"] == "alice"
    assert server.ref(alice.app) == first
    fetched = alice.git("ls-remote", server.url(alice.app))  # git-upload-pack
    assert fetched.returncode == 0 and f"{first}\trefs/heads/main" in fetched.stdout

    other = f"s{RUN_ID}b"
    push = alice.push(server.url(other))
    assert push.returncode != 0
    assert f"key alice may not push app '{other}'" in push.output
    assert server.ref(other) == ""
    assert alice.git("ls-remote", server.url(other)).returncode != 0

    listed = server.ssh("admin", "keys", "list")
    assert listed.returncode == 0 and "alice" in listed.stdout and alice.app in listed.stdout
    text = (server.home / ".ssh" / "authorized_keys").read_text()
    assert text.count("restrict,command=") == 2 and oct(
        (server.home / ".ssh" / "authorized_keys").stat().st_mode & 0o777) == "0o600"


# One attack per way the forced command refuses, over the real sshd: no command (a shell),
# shell syntax, a repo path with '..', an admin-only command. Every other shape is decided
# by the same pure functions and unit-tested there (tests/unit/test_ssh_gate.py:
# test_everything_else_is_refused, test_repo_paths_outside_the_apps_or_with_dotdot_are_refused,
# test_otterstack_commands_for_pushers_and_admins).
ATTACKS = [
    ("no-command", [], "no shell here"),
    ("dotdot", ["git-receive-pack '{home}/git/../git/{app}.git'"], "contains '..'"),
    ("secrets", ["env", "{app}", "list", "--show-values"], "admin keys only"),
    ("substitution", ["status", "$(touch /tmp/{marker})"], "shell syntax"),
]


@pytest.mark.parametrize(("name", "remote", "why"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_everything_else_is_refused_with_nothing_run(server: Server, alice: Client, name,
                                                     remote, why):
    marker = f"otter-pwned-{RUN_ID}-{name}"
    args = [part.format(marker=marker, home=server.home, app=alice.app, run=RUN_ID)
            for part in remote]
    before = server.ref(alice.app)
    proc = server.ssh("alice", *args)
    assert proc.returncode != 0, proc.stdout
    assert "otterstack: refused:" in proc.stderr and why in proc.stderr, proc.stderr
    assert not Path(f"/tmp/{marker}").exists()
    assert server.ref(alice.app) == before


def test_status_over_ssh(server: Server, alice: Client):
    proc = server.ssh("alice", "status", alice.app)
    assert proc.returncode == 0, proc.stderr
    assert "active: r" in proc.stdout and "by alice" in proc.stdout
    proc = server.ssh("alice", "releases", alice.app, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)[0]["pushed_by"] == "alice"


@pytest.mark.parametrize(("extra", "token", "shown"), [
    (PRIVILEGED, "privileged", "privileged true"),
    (SOCKET, "docker-socket", "volumes /var/run/docker.sock:/var/run/docker.sock"),
    (HOST_ROOT, "host-mounts", "volumes /:/host"),
], ids=["privileged", "docker-socket", "host-root"])
def test_host_access_is_refused_before_the_ref_moves(server: Server, alice: Client, extra,
                                                     token, shown):
    before = server.ref(alice.app)
    serving = server.releases(alice.app)[0]
    alice.commit(compose_with(extra), f"wants {token}")
    push = alice.push()
    assert push.returncode != 0, push.output
    assert f"service 'web': {shown}" in push.output, push.output
    assert f"otterstack config {alice.app} allow {token}" in push.output
    assert server.ref(alice.app) == before
    assert server.releases(alice.app)[0] == serving
    assert alice.git("reset", "-q", "--hard", "HEAD~1").returncode == 0


def test_it_deploys_after_the_admin_allows_it(server: Server, alice: Client):
    alice.commit(compose_with(SOCKET_AND_ROOT), "socket and host root")
    refused = alice.push()
    assert refused.returncode != 0
    assert "allow docker-socket,host-mounts" in refused.output, refused.output
    proc = server.ssh("admin", "config", alice.app, "allow", "docker-socket,host-mounts")
    assert proc.returncode == 0, proc.stderr
    push = alice.push()
    assert push.returncode == 0 and "==> deployed" in push.result, push.output
    release = server.releases(alice.app)[0]
    assert release["status"] == "active" and release["pushed_by"] == "alice"
    mounts = run(["docker", "inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}",
                  f"{alice.app}-{release['name']}-web-1"]).stdout.split()
    assert sorted(mounts) == ["/", "/var/run/docker.sock"]

    # revoked again: a deploy of the same commit is refused before anything starts
    assert server.ssh("admin", "config", alice.app, "allow", "''").returncode == 0
    redeploy = server.ssh("alice", "deploy", alice.app)
    assert redeploy.returncode != 0 and "refused by the compose policy" in redeploy.stdout
    assert server.releases(alice.app)[1]["name"] == release["name"]
    assert f"active: {release['name']}" in server.ssh("alice", "status", alice.app).stdout


def test_privileged_passes_the_policy_once_allowed(server: Server, alice: Client):
    """This test engine itself runs without the capabilities `privileged` needs (runc: unable
    to apply caps), so the proof is that the policy lets it through to the engine."""
    serving = json.loads(server.otter("status", alice.app, "--json").stdout)["active"]
    sha = alice.commit(compose_with(PRIVILEGED), "privileged")
    assert alice.push().returncode != 0 and server.ref(alice.app) != sha
    assert server.ssh("admin", "config", alice.app, "allow", "privileged").returncode == 0
    push = alice.push()
    assert push.returncode == 0 and server.ref(alice.app) == sha, push.output
    assert "refused by the compose policy" not in push.output
    if "==> deployed" not in push.result:  # the engine's refusal, after the policy's pass
        assert "unable to apply caps" in push.result, push.output
        assert server.releases(alice.app)[0]["status"] == "failed"
        assert f"active: {serving['name']}" in server.ssh("alice", "status", alice.app).stdout


def test_a_key_pushes_previews_of_its_app_only(server: Server, alice: Client, traefik):
    """A key for A may push any branch of A as a preview, list and remove A's previews, and
    nothing of B's; the previews' variables stay the admin's."""
    domain = f"pv-{alice.app}.localhost"
    for args in (("--global", "traefik_container", traefik.name),
                 (alice.app, "traefik_routing", "on"), (alice.app, "previews", "on"),
                 (alice.app, "preview_domain", domain)):
        proc = server.otter("config", *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    alice.git("checkout", "-q", "-b", "feature-x")
    alice.commit(example_files("alice's preview"), "preview")
    proc = alice.git("push", server.url(alice.app), "HEAD:feature-x")
    assert "==> deployed the preview of feature-x" in proc.stderr, proc.stdout + proc.stderr
    assert traefik.get(f"feature-x.{domain}")[::2] == (200, "alice's preview\n")
    listed = server.ssh("alice", "previews", alice.app, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["branch"] for p in json.loads(listed.stdout)] == ["feature-x"]
    for remote, why in ((["previews", f"s{RUN_ID}b"], f"may not use app 's{RUN_ID}b'"),
                        (["env", alice.app, "--preview", "list"], "admin keys only")):
        proc = server.ssh("alice", *remote)
        assert proc.returncode != 0 and "otterstack: refused:" in proc.stderr, proc.stderr
        assert why in proc.stderr, proc.stderr
    proc = alice.git("push", server.url(alice.app), ":feature-x")
    assert "==> removed the preview of feature-x" in proc.stderr, proc.stdout + proc.stderr
    assert json.loads(server.otter("previews", alice.app, "--json").stdout) == []
    wait_for(lambda: traefik.get(f"feature-x.{domain}")[0] == 404, timeout=10)
    alice.git("checkout", "-q", "main")


def test_removing_a_key_revokes_it_and_keeps_other_lines(server: Server, alice: Client):
    path = server.home / ".ssh" / "authorized_keys"
    own = (server.keys / "someone.pub").read_text()
    doctor = server.otter("doctor")
    line = next(x for x in doctor.stdout.splitlines() if "push access" in x)
    assert "warn" in line and "1 key(s) with a shell" in line and "someone@client" in line

    proc = server.ssh("admin", "keys", "remove", "alice")
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith("# my own\n" + own) and "otterstack:alice" not in text
    assert "otterstack:admin" in text
    refused = server.ssh("alice", "status", alice.app)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    assert server.ssh("admin", "status", alice.app).returncode == 0
