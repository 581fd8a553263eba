"""`otterstack traefik up`: start a Traefik configured for OtterStack, on this host (docker
provider) or as a Swarm service (swarm provider)."""

import argparse

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.swarm import traefik_up as swarm_traefik
from otterstack_hooks.adapters.traefik import up as traefik_up
from otterstack_hooks.rules.traefik.container import DEFAULT_CONTAINER
from otterstack_hooks.rules.traefik.throttle import DEFAULT_THROTTLE, throttle_seconds


def cmd_traefik_up(args: argparse.Namespace) -> int:
    if args.swarm:
        print(swarm_traefik.up(engine.client(), args.image, args.name,
                               args.network or swarm_traefik.NETWORK, args.http_port,
                               args.throttle, args.refresh, args.constraints))
        return 0
    print(traefik_up.up(engine.client(), args.image, args.name,
                        args.network or traefik_up.DEFAULT_NETWORK, args.http_port,
                        args.bind, args.api_port, args.constraints, args.throttle))
    return 0


def _throttle(text: str) -> str:
    try:
        throttle_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text.strip()


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("traefik", help="run a Traefik configured for OtterStack")
    tr_sub = tr.add_subparsers(dest="traefik_command", required=True, metavar="ACTION")
    p = tr_sub.add_parser("up", help="start Traefik (docker provider, API on 127.0.0.1 only)")
    p.add_argument("--image", default=traefik_up.DEFAULT_IMAGE)
    p.add_argument("--name", default=DEFAULT_CONTAINER)
    p.add_argument("--network", help=f"default: {traefik_up.DEFAULT_NETWORK}, with --swarm "
                   f"{swarm_traefik.NETWORK} (an attachable overlay)")
    p.add_argument("--swarm", action="store_true",
                   help="run it as a Swarm service on this manager with the swarm provider "
                   "(for apps with runtime swarm; docs/swarm.md)")
    p.add_argument("--refresh", type=_throttle, default=swarm_traefik.DEFAULT_REFRESH,
                   help="with --swarm: how often Traefik polls the Swarm (Traefik's default: "
                   "15s)")
    p.add_argument("--http-port", type=int, default=80)
    p.add_argument("--bind", default="0.0.0.0", help="address the http entrypoint listens on")
    p.add_argument("--api-port", type=int, default=8080, help="API port on 127.0.0.1")
    p.add_argument("--constraints", default="",
                   help="only route containers matching this Traefik constraint expression "
                   "(e.g. \"LabelRegex(`com.docker.compose.project`, `shop-.+`)\"), for "
                   "several Traefiks on one Docker host")
    p.add_argument("--throttle", type=_throttle, default=DEFAULT_THROTTLE,
                   metavar="DURATION",
                   help="Traefik's providers.providersThrottleDuration: how long it waits "
                   "after applying container changes before applying the next ones (default "
                   f"{DEFAULT_THROTTLE}; Traefik's own is 2s; 0 applies every "
                   "change at once). A new release is served at most this long after it is "
                   "healthy; see docs/performance.md")
    p.set_defaults(func=cmd_traefik_up)
