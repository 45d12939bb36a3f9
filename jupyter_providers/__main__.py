"""``jupyter-providers local start|stop|status``: the embedded local model from a shell."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def _local(args: argparse.Namespace) -> int:
    from . import local

    if args.action == "status":
        server = local.recorded_server()
        if server is None:
            print("the local model is not running - start it with: jupyter-providers local start")
            return 1
        if not server.running:
            print(server.exit_message())
            return 1
        if not server.answers():
            print(f"the local model server (pid {server.pid}) runs but does not answer at {server.base_url}/v1; "
                  f"log: {server.log_path}")  # fmt: skip
            return 1
        print(f"the local model is running at {server.base_url}/v1 (pid {server.pid}, model {local.MODEL_ALIAS})")
        return 0
    if args.action == "stop":
        stopped = local.stop()
        print("the local model was stopped" if stopped else "the local model was not running")
        return 0
    try:
        server = local.start(args.port, detach=not args.foreground)
    except local.LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"the local model answers at {server.base_url}/v1 as '{local.MODEL_ALIAS}' (provider 'local' registered)")
    if args.foreground:
        print("press Ctrl-C to stop it")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while server.running and not stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            died = not server.running and not stop.is_set()
            server.stop()
        if died:
            print(f"error: {server.exit_message()}", file=sys.stderr)
            return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jupyter-providers", description="jupyter-providers command line")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="the embedded local model (SmolLM2 on llama.cpp)")
    local.add_argument("action", choices=("start", "stop", "status"))
    local.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: 8000, else a free one)")
    local.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops the server")
    args = parser.parse_args(argv)
    return _local(args)


if __name__ == "__main__":
    sys.exit(main())
