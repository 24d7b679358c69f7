"""Slowloris against ``serve``: many half-sent requests, then a legitimate one.

``serve`` runs in its own process with an open-file limit of --nofile (soft and hard, as a
container's ``ulimit -n 1024`` would give it). This process opens --sockets connections that each
send part of a request and then nothing (--kind mixed: half of them an unfinished head, half a
full head with only part of the body its Content-Length promises; or all ``heads`` or ``bodies``), then makes legitimate requests
(``GET /v1/agents``) one after another. Reported: how many half-sent connections the server
accepted, whether and how fast each legitimate request was answered, and how many of the
half-sent connections the server had closed --wait seconds later.

    python bench/slowloris_bench.py [--sockets 1100] [--nofile 1024] [--wait 40] [--kind mixed] [--code DIR]

``--code DIR`` serves from another checkout's ``DIR/emulator``, to measure a version before a change.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from rich.console import Console

KEY = "sk_test_slowloris"


def half_sent(host: str, port: int, index: int, kind: str) -> socket.socket | None:
    sock = socket.socket()
    sock.settimeout(5)
    try:
        sock.connect((host, port))
        if kind == "heads" or (kind == "mixed" and index % 2):
            sock.sendall(f"GET /v1/agents HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
        else:
            head = f"POST /v1/agents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
            sock.sendall((head + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").encode())
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    poller = select.poll()  # select() stops at descriptor 1023
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return True
    except BlockingIOError:
        return False
    if data:  # an answer (a 408) first: the close follows
        return closed_by_server(sock)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1100)
    parser.add_argument("--nofile", type=int, default=1024)
    parser.add_argument("--wait", type=float, default=40.0)
    parser.add_argument("--kind", choices=("mixed", "heads", "bodies"), default="mixed")
    parser.add_argument("--code", type=Path, help="serve from DIR/emulator (another version)")
    args = parser.parse_args()
    console = Console()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.sockets + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sockets + 256), hard))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")}
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve() / "emulator")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))

    proc = subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limit,
    )  # fmt: skip
    sockets: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("ready at ", 1)[1].split()[0]
        host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80
        started = time.monotonic()
        for index in range(args.sockets):
            sock = half_sent(host, port, index, args.kind)
            if sock is not None:
                sockets.append(sock)
        opened = time.monotonic() - started
        answers = []
        for _ in range(5):
            asked = time.perf_counter()
            try:
                status = requests.get(
                    url + "/v1/agents", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
                ).status_code
                answers.append(f"{status} in {(time.perf_counter() - asked) * 1000:.0f} ms")
            except requests.RequestException as exc:
                answers.append(f"no answer ({type(exc).__name__}) after {time.perf_counter() - asked:.1f} s")
        time.sleep(max(0.0, args.wait - (time.monotonic() - started)))
        closed = sum(1 for sock in sockets if closed_by_server(sock))
    finally:
        for sock in sockets:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    console.print(
        f"open-file limit {args.nofile}; {len(sockets)} of {args.sockets} half-sent connections ({args.kind}) opened "
        f"in {opened:.1f} s"
    )
    console.print("legitimate GET /v1/agents, one after another: " + "; ".join(answers))
    console.print(
        f"half-sent connections closed by the server {args.wait:g} s after the first: {closed} of {len(sockets)}"
    )


if __name__ == "__main__":
    main()
