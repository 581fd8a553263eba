"""The Runtime port (ports.Runtime) on Docker Swarm: one stack per release (`<app>-r<N>`),
the app's stateful services in the stack `<app>-state`.

Thin over the docker CLI (`docker stack deploy`, `push`, `service logs`) and the Engine
API (services, tasks, nodes). Compose still reads and builds the files (Swarm ignores
`build:`); rules/swarm/stack.py (pure) turns the config into the stack file, rules/swarm/tasks.py
(pure) reads the tasks as the snapshots the health gate judges. What a command line is,
is in rules/command_lines.py.
"""

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker.errors

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.compose.runtime import ComposeRuntime
from otterstack_hooks.adapters.docker import drain, engine
from otterstack_hooks.adapters.local import process
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import OnLine, Say
from otterstack_hooks.rules import command_lines as commands
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.preview.naming import PreviewNames, resource_owner
from otterstack_hooks.rules.release_plan import STATE_SUFFIX
from otterstack_hooks.rules.swarm.stack import REPLICAS_LABEL, STACK_LABEL, render_stack
from otterstack_hooks.rules.swarm.stack_view import log_services, node_names, service_summary
from otterstack_hooks.rules.swarm.tasks import snapshots

STOP_MARGIN = 30  # s past a service's stop grace period before a stop is given up
ALIVE = ("new", "pending", "assigned", "accepted", "ready", "preparing", "starting",
         "running")  # task states before it has exited
GONE_SECONDS = 60  # how long `docker stack rm` may take to be done with tasks and networks


class SwarmRuntime(ComposeRuntime):
    """Reading, building and the per-app volumes and networks are as on one host (the
    inherited ComposeRuntime methods); running, inspecting and stopping are Swarm's. The
    release command runs as on one host, a one-off container on the manager: the release's
    networks and the app's pinned ones are attachable overlays, so it reaches the data
    stack."""

    def __init__(self, app: str, registry: str = ""):
        self.app, self.registry = app, registry.rstrip("/")
        self._healthchecks: dict[str, bool] = {}
        # named volume -> the other nodes a removed stack's tasks mounted it on
        self._remote_volumes: dict[str, set[str]] = {}

    # images

    def _deploy_images(self, target: ComposeTarget, config: Mapping[str, Any],
                       services: Sequence[str], on_line: OnLine, timeout: float
                       ) -> dict[str, str]:
        """Tag each built image by commit (`<app>-<service>:<sha12>`; a preview's
        `<app>_<slug>-<service>:<sha12>`, never production's tag: its variables may build
        another image of the same commit), push it to the registry if there is one, and run
        it by digest; on one node without a registry the local tag is the reference."""
        owner = target.project.rpartition("-")[0]  # <app>, or a preview's <app>_<slug>
        images = {}
        for name in services:
            service = config["services"][name]
            if not service.get("build"):
                continue
            built = service.get("image") or f"{target.project}-{name}"
            revision = (target.revision or self._image_id(built))[:12]
            repository = f"{owner}-{name}"
            if self.registry:
                repository = f"{self.registry}/{repository}"
            with engine.engine_errors(f"tagging {built}"):
                self.dc.api.tag(built, repository, revision)
            reference = f"{repository}:{revision}"
            if self.registry:
                on_line(f"pushing {reference}")
                self._run(commands.image_push(reference), timeout, "pushing the image")
                reference = self._digest(reference, repository)
            images[name] = reference
        return images

    def _image_id(self, image: str) -> str:
        with engine.engine_errors(f"inspecting {image}"):
            return str(self.dc.api.inspect_image(image)["Id"]).removeprefix("sha256:")

    def _digest(self, reference: str, repository: str) -> str:
        with engine.engine_errors(f"inspecting {reference}"):
            digests = self.dc.api.inspect_image(reference).get("RepoDigests") or []
        for digest in digests:
            if digest.startswith(f"{repository}@"):
                return str(digest)
        raise OtterError(f"{reference} was pushed, but the registry gave no digest for it")

    def _run(self, args: Sequence[str], timeout: float, what: str) -> str:
        return str(process.run_checked(args, timeout, what).stdout)

    # running

    def build(self, target: ComposeTarget, services: Sequence[str], on_line: OnLine,
              timeout: float) -> None:
        if self.registry == "" and self.node_count() > 1:
            raise OtterError(
                f"{self.app} builds images, and this Swarm has {self.node_count()} nodes: the "
                "other nodes cannot run an image that exists only here. Set a registry every "
                f"node can pull from: `otterstack config {self.app} registry HOST:PORT`")
        super().build(target, services, on_line, timeout)

    def up(self, target: ComposeTarget, services: Sequence[str], on_line: OnLine,
           timeout: float) -> None:
        config = compose.config(target)
        data = target.project.endswith(f"-{STATE_SUFFIX}")  # the app's, or a preview's
        if data:
            self._check_pinned(config, services)
        images = self._deploy_images(target, config, services, on_line, timeout)
        stack = render_stack(config, services, images, self.app, target.project, data)
        for note in stack.notes:
            on_line(note)
        fd, name = tempfile.mkstemp(prefix=f"otterstack-{target.project}-", suffix=".yml")
        try:
            with os.fdopen(fd, "w") as file:  # mkstemp: 0600, and it holds the app's values
                file.write(stack.text)
            code, tail = process.stream(commands.stack_deploy(target.project, Path(name)),
                                        timeout, on_line, target.directory,
                                        target.process_env(os.environ))
        finally:
            os.unlink(name)
        if code != 0:
            raise OtterError(f"docker stack deploy failed: {' | '.join(tail[-4:])}")

    def _check_pinned(self, config: Mapping[str, Any], services: Sequence[str]) -> None:
        """A named volume lives on one node: on more than one, a stateful service must be
        pinned to its node, or Swarm may start it elsewhere on an empty volume."""
        if self.node_count() <= 1:
            return
        for name in services:
            placement = (config["services"][name].get("deploy") or {}).get("placement") or {}
            if not placement.get("constraints"):
                raise OtterError(
                    f"service {name} keeps data (it runs once per app) and this Swarm has "
                    f"{self.node_count()} nodes: pin it to the node that holds its volume, e.g. "
                    "`docker node update --label-add db=true NODE` and, in the service, "
                    "`deploy: {placement: {constraints: [node.labels.db == true]}}`")

    def ensure_network(self, app: str, name: str, spec: Mapping[str, Any]) -> bool:
        """The app's shared networks span the cluster: overlay, attachable."""
        return super().ensure_network(app, name, {**spec, "driver": "overlay",
                                                  "attachable": True})

    # inspecting

    def _down_nodes(self) -> set[str]:
        with engine.engine_errors("listing the Swarm's nodes"):
            return {n["ID"] for n in self.dc.api.nodes()
                    if (n.get("Status") or {}).get("State") != "ready"}

    def node_count(self) -> int:
        with engine.engine_errors("listing the Swarm's nodes"):
            return len(self.dc.api.nodes())

    def _services(self, stack: str) -> list[dict[str, Any]]:
        return engine.stack_services(self.dc, stack)

    def _tasks(self, service_id: str) -> list[dict[str, Any]]:
        with engine.engine_errors("listing tasks"):
            return list(self.dc.api.tasks(filters={"service": service_id}))

    def _has_healthcheck(self, service: Mapping[str, Any]) -> bool:
        spec = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get(
            "ContainerSpec") or {}
        test = (spec.get("Healthcheck") or {}).get("Test")
        if test:
            return test != ["NONE"]
        image = str(spec.get("Image", ""))
        if image not in self._healthchecks:
            self._healthchecks[image] = bool(self.image_has_healthcheck(image))
        return self._healthchecks[image]

    def containers(self, project: str) -> list[ContainerSnapshot]:
        now = time.time()
        local = self._local_health(project)
        found = []
        for service in self._services(project):
            found += snapshots(project, service, self._tasks(service["ID"]),
                               self._has_healthcheck(service), now, local)
        return found

    spans_nodes = True

    def service_rows(self, project: str) -> list[dict[str, Any]]:
        """The stack's services, each with its tasks and their nodes (stack_view)."""
        services = self._services(project)
        with engine.engine_errors(f"reading the stack {project}"):
            if not services:
                return []
            names = node_names(self.dc.api.nodes())
            return [service_summary(project, s, self.dc.api.tasks(filters={"service": s["ID"]}),
                                    names) for s in services]

    def log_commands(self, app: str, release: str | None, kept: str, service: str,
                     follow: bool) -> list[list[str]]:
        """`docker service logs` of each chosen service (the tasks on every node)."""
        def names(stack: str) -> list[str]:
            return [str(s["Spec"]["Name"]) for s in self._services(stack)]

        chosen = log_services(app, release, names(release) if release else [], kept,
                              names(kept), service)
        return [commands.service_logs(name, 200, follow) for name in chosen]

    def _local_health(self, project: str) -> dict[str, tuple[str, str]]:
        """The unhealthy task containers of the stack on this node: id -> (health, the
        check's last output). Swarm itself notices them much later."""
        found = {}
        with engine.engine_errors(f"listing the containers of {project}"):
            listed = self.dc.api.containers(filters={"label": f"{STACK_LABEL}={project}",
                                                     "health": "unhealthy"})
            for item in listed:
                try:
                    found[item["Id"]] = ("unhealthy",
                                         engine.snapshot(self.dc.api.inspect_container(
                                             item["Id"])).health_output)
                except docker.errors.NotFound:
                    continue
        return found

    def logs_tail(self, container_id: str, lines: int) -> list[str]:
        try:
            return self._run(commands.service_logs(container_id, lines), 30,
                             "reading the task's logs").splitlines()[-lines:]
        except OtterError:
            return []

    def fingerprints(self, project: str) -> dict[str, tuple[str, str, int]]:
        """service -> (its running tasks, "", failed tasks): a service whose tasks `stack
        deploy` left running keeps both (its spec version moves on every deploy, changed or
        not, so it says nothing)."""
        result = {}
        for service in self._services(project):
            tasks = self._tasks(service["ID"])
            running = ",".join(sorted(t["ID"] for t in tasks
                                      if t.get("DesiredState") == "running"))
            failed = sum(1 for t in tasks if (t.get("Status") or {}).get("State") == "failed")
            name = service["Spec"]["Name"].removeprefix(f"{project}_")
            result[name] = (running, "", failed)
        return result

    def _note_remote_volumes(self, project: str) -> None:
        """Which other nodes the stack's tasks mounted named volumes on: a node creates a
        volume it lacks, and only that node's engine can remove it (remove_volume says so)."""
        with engine.engine_errors(f"reading the tasks of {project}"):
            here = (self.dc.info().get("Swarm") or {}).get("NodeID", "")
            names = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"][:12])
                     for n in self.dc.api.nodes()}
            for service in self._services(project):
                for task in self._tasks(service["ID"]):
                    node = str(task.get("NodeID", ""))
                    if not node or node == here:
                        continue
                    mounts = (((task.get("Spec") or {}).get("ContainerSpec") or {})
                              .get("Mounts") or [])
                    for mount in mounts:
                        if mount.get("Type") == "volume" and mount.get("Source"):
                            self._remote_volumes.setdefault(str(mount["Source"]), set()).add(
                                names.get(node, node[:12]))

    def app_resources(self, app: str, preview: str | None = None
                      ) -> tuple[list[str], list[str]]:
        """This node's, and the app's volumes a removed stack used on other nodes (by
        name there: production's are `<app>_<key>`, a preview's `<app>.<slug>_<key>`)."""
        volumes, networks = super().app_resources(app, preview)
        prefix = f"{app}_" if preview is None else PreviewNames(app, preview).resource("")
        remote = [v for v in self._remote_volumes if v.startswith(prefix)]
        return sorted({*volumes, *remote}), networks

    def remove_volume(self, name: str) -> None:
        """Here, if it is here; on another node only that node's engine can: say where."""
        local = name in super().app_resources(self.app, resource_owner(self.app, name))[0]
        if local:
            super().remove_volume(name)
        elsewhere = sorted(self._remote_volumes.get(name, ()))
        if elsewhere:
            raise OtterError(
                f"volume {name} {'is also' if local else 'is'} on {', '.join(elsewhere)}, "
                "where its service ran: its data stays there until you run `docker volume rm "
                f"{name}` on {'that node' if len(elsewhere) == 1 else 'each of them'}")

    def _kill_local(self, project: str) -> None:
        with engine.engine_errors(f"stopping the tasks of {project}"):
            for item in self.dc.api.containers(
                    filters={"label": f"{STACK_LABEL}={project}", "status": "running"}):
                try:
                    self.dc.api.kill(item["Id"])
                except docker.errors.APIError:
                    continue

    def projects(self) -> set[str]:
        with engine.engine_errors("listing stacks"):
            found = self.dc.api.services(filters={"label": STACK_LABEL})
        return {s["Spec"]["Labels"].get(STACK_LABEL, "") for s in found} | super().projects()

    # stopping

    def drain(self, project: str, label: str, timeout: float, say: Say) -> None:
        """Counted like one host's for tasks on this node; a task on another node cannot be
        counted from here, so then the drain waits the fixed delay."""
        say(drain.verdict_text(drain.drain(self.dc, project, label, timeout, say,
                                           lambda: self._in_flight(project))))

    def _in_flight(self, project: str) -> int | None:
        """Tasks on this node only: with one on another node, None."""
        local = {c["Id"] for c in self.dc.api.containers(
            filters={"label": f"{STACK_LABEL}={project}", "status": "running"})}
        remote = [t for s in self._services(project) for t in self._tasks(s["ID"])
                  if t.get("DesiredState") == "running"
                  and (t.get("Status") or {}).get("ContainerStatus", {}).get(
                      "ContainerID") not in local]
        if remote:
            return None
        return drain.containers_in_flight(self.dc, sorted(local))

    def stop(self, project: str, services: Sequence[str] = ()) -> None:
        """Scale to 0: Swarm stops each task gracefully (SIGTERM, its stop grace period);
        wait until none runs."""
        chosen = [s for s in self._services(project)
                  if not services or s["Spec"]["Name"].removeprefix(f"{project}_") in services]
        grace = 10.0
        for service in chosen:
            spec = service["Spec"]
            nanos = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(
                "StopGracePeriod") or 10_000_000_000
            grace = max(grace, nanos / 1e9)
            self._scale(service, 0)
        # a task told to shut down still runs until its process exits: wait for that; a task
        # on a node that is down stays "running" until the node is back: it serves nothing
        down = self._down_nodes()
        self._wait(lambda: not any((t.get("Status") or {}).get("State") in ALIVE
                                   and t.get("NodeID") not in down
                                   for s in chosen for t in self._tasks(s["ID"])),
                   grace + STOP_MARGIN, f"stopping {project}")

    def start(self, project: str, services: Sequence[str]) -> None:
        """Scale back to the replicas the release was deployed with."""
        for service in self._services(project):
            name = service["Spec"]["Name"].removeprefix(f"{project}_")
            if name in services:
                labels = service["Spec"].get("Labels") or {}
                self._scale(service, int(labels.get(REPLICAS_LABEL, "1") or 1))

    def _scale(self, service: Mapping[str, Any], replicas: int) -> None:
        with engine.engine_errors(f"scaling {service['Spec']['Name']}"):
            current = self.dc.api.inspect_service(service["ID"])
            mode = current["Spec"].get("Mode") or {}
            if (mode.get("Replicated") or {}).get("Replicas") == replicas:
                return
            self.dc.api.update_service(service["ID"], current["Version"]["Index"],
                                       mode={"Replicated": {"Replicas": replicas}},
                                       fetch_current_spec=True)

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise OtterError(f"{what} did not finish in {timeout:.0f} s")
            time.sleep(0.3)

    def remove(self, project: str, timeout: int | None = None) -> None:
        """`docker stack rm`, then wait until its tasks are gone (its networks go with
        them); the images it ran stay (by commit: a rollback runs them again), but for a
        preview's (`<app>_<slug>-...`: no rollback) once no stack runs them."""
        services = self._services(project)
        if services:
            self._note_remote_volumes(project)
            self._run(commands.stack_rm(project), 120, f"removing stack {project}")
            if timeout == 0:  # a release that never served: no grace period to wait out
                self._kill_local(project)
            self._wait(lambda: not self.dc.api.containers(
                all=True, filters={"label": f"{STACK_LABEL}={project}"}) and
                not self._services(project), GONE_SECONDS, f"removing stack {project}")
            owner = project.rpartition("-")[0]
            if owner != self.app:  # only the tags _deploy_images gave: <owner>-<service>:
                built = {f"{owner}-{s['Spec']['Name'].removeprefix(f'{project}_')}"
                         for s in services}
                engine.untag_unused(self.dc, {ref for ref in engine.service_images(services)
                                              if ref.partition(":")[0] in built})
        if any(p == project for p in engine.projects(self.dc)):
            super().remove(project, timeout)  # a release command's left-over container
        else:
            try:
                engine.remove_project_images(self.dc, project)
            except OtterError:
                pass

