"""`livskraft`: run the system, one service, the seed's demo, or issue a development token.

livskraft dev [--today 2010-01-20]   every service on the embedded defaults
livskraft serve registry             one service (DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS set)
livskraft demo                       the seed's scenario against a running `livskraft dev`
livskraft token --role staff         a development bearer token (on the last line)
livskraft clock 2010-09-01           move every running service's calendar forward (development)
livskraft reporting rebuild          reporting's projection made again from the topics, from offset zero
livskraft deploy render [--check]    deploy/k8s's generated manifests, from the services' declarations
"""

from __future__ import annotations

import argparse
import os
import sys

from services.catalog import PORTS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["deploy", "render"]:  # argparse of its own (services/devtools/deploy.py)
        from services.devtools.deploy import main as render_main

        return render_main(argv[2:])
    if argv[:1] == ["clock"]:  # argparse of its own (services/devtools/clock.py)
        from services.devtools.clock import clock_main

        return clock_main(argv[1:])
    if argv[:1] == ["token"]:  # argparse of its own, which the auth module's tests use too
        from services.devtools.tokens import token_main

        return token_main(argv[1:])

    parser = argparse.ArgumentParser(
        prog="livskraft", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run every service on the embedded defaults")
    for name, port in PORTS.items():
        dev.add_argument(f"--{name}-port", type=int, default=port)
    dev.add_argument("--today", help="start the services' calendar on this day (YYYY-MM-DD)")
    dev.add_argument("--data-dir", default=".livskraft")
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=list(PORTS))
    serve.add_argument("--port", type=int)
    demo = sub.add_parser("demo", help="drive the seed's scenario through the public APIs")
    demo.add_argument("--data-dir", default=".livskraft")
    sub.add_parser("token", help="print a development token (see `livskraft token --help`)")
    deploy = sub.add_parser("deploy", help="deployment tools (see `livskraft deploy render --help`)")
    deploy.add_subparsers(dest="action", required=True).add_parser(
        "render", help="write deploy/k8s's generated manifests from the services' declarations"
    )
    reporting = sub.add_parser("reporting", help="reporting's operations")
    rebuild = reporting.add_subparsers(dest="action", required=True).add_parser(
        "rebuild", help="make the projection again from the topics, from offset zero, and swap it in"
    )
    rebuild.add_argument("--batch-size", type=int, default=5000)
    rebuild.add_argument("--workers", type=int, default=1, help="processes, each reading some partitions")
    rebuild.add_argument("--data-dir", default=".livskraft", help="where `livskraft dev` wrote dev.json")
    args = parser.parse_args(argv)

    if args.command == "dev":
        from services.devtools.dev import run_dev

        ports = {name: getattr(args, f"{name}_port") for name in PORTS}
        return run_dev(ports=ports, today=args.today, data_dir=args.data_dir)
    if args.command == "serve":
        return _serve(args.service, args.port)
    if args.command == "demo":
        from services.devtools.demo import run_demo

        return run_demo(args.data_dir)
    if args.command == "reporting":
        from services.reporting.rebuild import main as rebuild_main

        return rebuild_main(args.data_dir, args.batch_size, args.workers)
    return 2


def _serve(service: str, port: int | None) -> int:
    import uvicorn

    from services.catalog import app_factory
    from services.runtime import logs
    from services.runtime.app import HTTP_DRAIN_S
    from services.runtime.settings import Settings

    settings = Settings(service=service)
    if port or "LIVSKRAFT_HTTP_PORT" not in os.environ:
        settings = settings.model_copy(update={"http_port": port or PORTS[service]})
    logs.configure(settings.log_level, service)
    app = app_factory(service)(settings)
    # SIGTERM: uvicorn stops accepting connections, gives the requests under way HTTP_DRAIN_S to
    # finish, then the lifespan stops the consumer and the relay (services/runtime/app.py).
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(HTTP_DRAIN_S),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
