"""Slowloris: clients that send half a request and then nothing must not keep legitimate requests
out, and must not hold their connections for ever.

Small scale here (a few dozen sockets, limits made small through ``ConnectionLimits``, a serve
process with an open-file limit of 64); ``bench/slowloris_bench.py`` runs 1,100 against the
limit of 1,024 (figures in docs/reliability.md).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from agentphone_emulator import ConnectionLimits, Emulator

KEY = "sk_test_slowloris"
GUARD = 20.0  # seconds a socket waits for the server at most: a hang guard, not a measure


def half_sent(port: int, body: bool) -> socket.socket:
    """A connection that sends part of a request: an unfinished head, or a full head with part of
    the body its Content-Length promises. Then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
    if body:
        sock.sendall(
            b"POST /v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
    else:
        sock.sendall(b"GET /v1/agents HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends before it closes the connection (a socket timeout fails the test)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def legitimate(base_url: str) -> requests.Response:
    return requests.get(base_url + "/v1/agents", headers={"Authorization": f"Bearer {KEY}"}, timeout=GUARD)


def test_half_sent_requests_are_closed_after_the_timeouts() -> None:
    """An unfinished head is closed after header_timeout; a body that stops short gets a 408 after
    body_timeout, then the connection is closed. (Before: kept open for an hour, for ever.)"""
    limits = ConnectionLimits(header_timeout=0.5, body_timeout=0.5)
    with Emulator.run_in_thread(api_keys=[KEY], limits=limits) as emu:
        heads = [half_sent(emu.port, body=False) for _ in range(10)]
        bodies = [half_sent(emu.port, body=True) for _ in range(10)]
        try:
            assert legitimate(emu.base_url).status_code == 200
            head_answers = [read_until_closed(sock) for sock in heads]  # closed, or the guard fails it
            body_answers = [read_until_closed(sock) for sock in bodies]
        finally:
            for sock in heads + bodies:
                sock.close()
    assert head_answers == [b""] * 10
    for answer in body_answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert answer.endswith(b'{"detail":"The request body did not arrive within 0.5 s"}'), answer


def test_over_the_cap_the_oldest_half_sent_connections_make_room_for_a_real_request() -> None:
    limits = ConnectionLimits(max_connections=8, header_timeout=60, body_timeout=60)
    with Emulator.run_in_thread(api_keys=[KEY], limits=limits) as emu:
        sockets = [half_sent(emu.port, body=i % 2 == 1) for i in range(24)]
        try:
            for _ in range(3):
                assert legitimate(emu.base_url).status_code == 200
            # Within the cap again: the oldest went (their sockets read the close), the newest stay.
            assert read_until_closed(sockets[0]) == b""
            assert emu.connections.evicted >= 16
            sockets[-1].settimeout(0.2)
            try:
                sockets[-1].recv(1)
                raise AssertionError("the newest half-sent connection was closed too")
            except TimeoutError:
                pass
        finally:
            for sock in sockets:
                sock.close()


def test_when_every_connection_is_inside_a_request_one_more_gets_a_503() -> None:
    """Nothing to evict (each connection is a request under way: here two transcript streams of a
    live call): the new connection is told so and closed, rather than left waiting."""
    limits = ConnectionLimits(max_connections=3, header_timeout=5, body_timeout=5)
    with Emulator.run_in_thread(api_keys=[KEY], limits=limits) as emu, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {KEY}"
        agent = http.post(emu.base_url + "/v1/agents", json={"name": "Busy", "beginMessage": "Hi"}).json()
        number = http.post(emu.base_url + "/v1/numbers", json={"agentId": agent["id"]}).json()
        call = http.post(emu.base_url + "/__emulator/calls", json={"to": number["phoneNumber"]}).json()
        http.close()  # its connection would count as a third, idle one
        streams, lines = [], []
        try:
            for _ in range(3):
                stream = requests.get(
                    f"{emu.base_url}/v1/calls/{call['callId']}/transcript/stream",
                    headers={"Authorization": f"Bearer {KEY}"},
                    stream=True,
                    timeout=GUARD,
                )
                streams.append(stream)
                lines.append(stream.iter_lines())
                assert next(lines[-1]) == b"event: connected"
            refused = socket.create_connection(("127.0.0.1", emu.port), timeout=GUARD)
            answer = read_until_closed(refused)
            refused.close()
        finally:
            for stream in streams:
                stream.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"Too many connections" in answer, answer
        assert emu.connections.refused == 1 and emu.connections.evicted == 0


@contextmanager
def serving_with_open_files(limit: int) -> Iterator[str]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTPHONE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentphone_emulator", "serve", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=cap,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert "ready at" in ready, proc.stderr.read() if proc.stderr else ready
        yield ready.split("ready at ", 1)[1].split()[0]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_serve_at_its_open_file_limit_still_answers_a_real_request() -> None:
    """80 half-sent requests against a serve allowed 64 open files took every descriptor it had:
    nothing was accepted any more, and no one timed them out. Its connections are capped below
    the limit, and a new one closes the oldest half-sent one."""
    with serving_with_open_files(64) as url:
        port = int(url.rsplit(":", 1)[1])
        sockets = [half_sent(port, body=i % 2 == 1) for i in range(80)]
        try:
            assert legitimate(url).status_code == 200
            assert legitimate(url).status_code == 200
        finally:
            for sock in sockets:
                sock.close()


def test_a_body_over_the_size_limit_is_a_413_in_the_error_shape() -> None:
    """It was a 500 with a traceback in the log (aiohttp's own 413 escaping the handler)."""
    with Emulator.run_in_thread(api_keys=[KEY]) as emu:
        answer = requests.post(
            emu.base_url + "/v1/agents",
            data=b"{" + b" " * (8 * 1024 * 1024) + b"}",
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            timeout=GUARD,
        )
        assert answer.status_code == 413
        assert answer.json()["detail"].startswith("Request body too large")
        assert legitimate(emu.base_url).status_code == 200
