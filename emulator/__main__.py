"""CLI: python -m emulator start [--port N] [--background --pidfile F] | stop --pidfile F"""

from __future__ import annotations

import argparse
import sys

from .server import DEFAULT_PORT, banner, run_foreground, start_background, stop_background


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="serve the patched moto emulator on 127.0.0.1")
    start.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port to listen on (default {DEFAULT_PORT}; 0 = any free port)")
    start.add_argument("--host", default="127.0.0.1",
                       help="127.0.0.1 or localhost; anything else is refused")
    start.add_argument("--background", action="store_true",
                       help="detach; return once the server answers (needs --pidfile)")
    start.add_argument("--pidfile", help="where --background records the server's pid")
    start.add_argument("--logfile", help="server output for --background (default PIDFILE.log)")
    start.add_argument("--record", help="append every request, one JSON line each, to this file "
                       "(what the CI roles are checked against: security/authorization.py)")

    stop = sub.add_parser("stop", help="stop an emulator started with --background")
    stop.add_argument("--pidfile", required=True)

    args = parser.parse_args(argv)
    try:
        if args.command == "stop":
            if stop_background(args.pidfile):
                print(f"AWS emulator stopped (pidfile {args.pidfile})")
            else:
                print(f"AWS emulator was not running (pidfile {args.pidfile})")
            return 0
        if args.background:
            if not args.pidfile:
                parser.error("--background needs --pidfile")
            endpoint = start_background(args.pidfile, port=args.port, host=args.host,
                                        logfile=args.logfile, record=args.record)
            print(banner(endpoint))
            print(f"stop it with: python -m emulator stop --pidfile {args.pidfile}")
            return 0
        return run_foreground(port=args.port, host=args.host, record=args.record)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
