"""``taskonomy serve``: the interactive solver, a local web page and JSON API (uvicorn).

    taskonomy serve                          # http://127.0.0.1:8000/ ; API docs at /docs
    taskonomy serve --port 8080 --results results/

It offers the paper's tables (paper-16k, paper-1k, paper) and every
``<results>/<run>/tables/<size>/affinity.csv`` as ``<run>:<size>``. It listens on 127.0.0.1
(this machine only) unless ``--host`` says otherwise: there is no authentication, so
``--host 0.0.0.0`` lets anyone who can reach the port use the solver and read the tables offered.
"""
from __future__ import annotations

import argparse
import ipaddress
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:          # a host name: may resolve to any interface
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(results: str | Path = "results", log: str | Path | None = None, timeout: float = 60):
    """``taskonomy serve`` on a free local port in a child process (for tests and benchmarks):
    yields its URL once it answers, stops it on exit. ``log``: file for its output."""
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "taskonomy", "serve", "--port", str(port),
                             "--results", str(results), "--log-level", "warning"],
                            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "api/tasks", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"taskonomy serve did not start (exit status {proc.poll()}; "
                                       f"log: {log or 'not kept'})") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy serve", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="offer the tables of DIR/<run>/tables/<size>/affinity.csv too (default results)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must be 0..65535, got {args.port}")
    import uvicorn

    from taskonomy.serve.app import create_app

    if not Path(args.results).is_dir():
        print(f"taskonomy serve: no folder {args.results!r}: offering the paper's tables only", file=sys.stderr)
    app = create_app(results=args.results)
    if not is_loopback(args.host):
        print(f"taskonomy serve: warning: listening on {args.host}, not this machine only: anyone who "
              f"can reach port {args.port} can use the solver (there is no authentication)", file=sys.stderr)
    print(f"taskonomy serve: http://{args.host}:{args.port}/  (API: /docs; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
