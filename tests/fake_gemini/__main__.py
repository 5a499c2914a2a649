"""Run the fake Gemini server until killed.

Usage::

    python -m tests.fake_gemini --script file.json [--port N] [--host 127.0.0.1] [--loop]

The first line printed is the base URL (``http://127.0.0.1:PORT``), so a
parent process can read it and set ``CHATDF_GEMINI_BASE_URL``. More replies
can be queued at run time with ``POST {url}/_fake/replies``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeGemini


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_gemini", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--script", help="JSON script file (format: tests/fake_gemini/server.py docstring)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--loop", action="store_true", help="replay the script forever")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    fake = FakeGemini(host=args.host, port=args.port, loop=args.loop, verbose=args.verbose)
    if args.script:
        try:
            fake.load_script(args.script)
        except (OSError, ValueError) as exc:
            print(f"fake_gemini: cannot load {args.script}: {exc}", file=sys.stderr)
            return 2
    fake.start()
    print(fake.url, flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
