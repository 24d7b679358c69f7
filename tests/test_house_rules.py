"""The house rules that can be read off the tests' source: no assert on the wall clock
(``tests/house_rules.py``). The suite is checked as it is, and the checker is checked on the
patterns it exists to keep out (each one once was in this suite) and on what it must let be."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.house_rules import LOWER_BOUND, wall_clock_asserts

TESTS = Path(__file__).resolve().parent


def test_no_test_asserts_on_the_wall_clock() -> None:
    problems = [
        problem.at(str(path.relative_to(TESTS.parent)))
        for path in sorted(TESTS.glob("*.py"))
        for problem in wall_clock_asserts(path.read_text(encoding="utf-8"))
    ]
    assert problems == [], "\n".join(problems)


FLAGGED = {
    "a perf_counter difference under a bound": """
        started = time.perf_counter()
        answer = await call.ainterrupt("Just the cheapest", after=1.0)
        assert time.perf_counter() - started < 1.9
    """,
    "a monotonic elapsed between two bounds": """
        started = time.monotonic()
        blocks = read_all(WavSource(path, realtime=True))
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 5.0
    """,
    "elapsed used in the message too": """
        began = time.perf_counter()
        data = render_tones(turns, 600.0)
        elapsed = time.perf_counter() - began
        assert elapsed < 1.0, f"600 s of tones took {elapsed:.2f} s"
    """,
    "a helper's seconds parameter": """
        def assert_timing(case_waits: bool, seconds: float) -> None:
            if case_waits:
                assert TIMEOUT - 0.05 <= seconds <= TIMEOUT + TOLERANCE, f"took {seconds:.2f} s"
    """,
    "the slowest of the API's latencies": """
        def assert_api_answered(watch: Watched) -> None:
            assert max(watch.api_latencies) < API_BOUND, watch.api_latencies
    """,
    "a watch's seconds inside an and": """
        assert healthy.requests == 1 and watch.seconds < TIMEOUT
    """,
    "a delivery attempt's duration_ms": """
        assert delivery.attempts[0].duration_ms <= (TIMEOUT + TOLERANCE) * 1000
    """,
    "a subscript key from a child process": """
        assert result["elapsed"] < 1.0  # unpaced: a clockless device goes as fast as it is read
    """,
    "a JSON latency under 5 s": """
        assert 0 <= order["firstChunkMs"] == order["lastChunkMs"] < 5000
    """,
    "one chunk's latency under another's": """
        assert interim.latency_ms <= final.latency_ms
    """,
    "a latency under a tool's time": """
        assert interim.latency_ms < TOOL_SECONDS * 1000  # before the tool ran: streamed, not buffered
    """,
    "a deadline asserted": """
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
    """,
    "elapsed on the greater side, unmarked": """
        started = time.monotonic()
        speaker.close()
        elapsed = time.monotonic() - started
        assert 0.4 * SAMPLE_RATE <= len(played) <= (elapsed + 0.05) * SAMPLE_RATE
    """,
    "a lower bound without its comment": """
        assert final.latency_ms >= 300
    """,
    "an upper bound marked as a lower bound": f"""
        assert result["elapsed"] < 5.0  {LOWER_BOUND} it is not one
    """,
    "an event loop's time": """
        loop = asyncio.get_running_loop()
        began = loop.time()
        await call.asay("hello")
        assert loop.time() - began < 2
    """,
    "get_running_loop().time() in a walrus": """
        if (now := asyncio.get_running_loop().time()) > 0:
            assert now - start < 2
    """,
    "an imported and renamed clock": """
        from time import perf_counter as clock

        def test() -> None:
            t = clock()
            work()
            assert clock() - t < 1
    """,
    "a name from an enclosing function": """
        def test() -> None:
            started = time.time()

            def check() -> None:
                assert time.time() - started < 3

            check()
    """,
    "a tuple assignment": """
        seconds, answer = time.monotonic() - started, 42
        assert seconds < 1
    """,
    "a loop over measured times": """
        latencies = [time.perf_counter() - s for s in starts]
        for latency in latencies:
            assert latency < 0.5
    """,
    "a comprehension over measured times": """
        latencies = [time.perf_counter() - s for s in starts]
        assert all(one < 0.5 for one in latencies)
    """,
    "an approximate equality with a constant": """
        elapsed = time.monotonic() - started
        assert elapsed == pytest.approx(1.5, abs=0.2)
    """,
    "an augmented assignment": """
        total = 0.0
        total += time.perf_counter() - started
        assert total < 2
    """,
    "a wall_s under a bound": """
        assert result.wall_s < 1.0
    """,
    "nanoseconds": """
        started = time.monotonic_ns()
        assert time.monotonic_ns() - started < 10**9
    """,
}


@pytest.mark.parametrize("source", FLAGGED.values(), ids=FLAGGED.keys())
def test_a_wall_clock_assert_is_flagged(source: str) -> None:
    problems = wall_clock_asserts(textwrap.dedent(source))
    assert problems, "not flagged"
    last_assert = max(
        i for i, line in enumerate(textwrap.dedent(source).splitlines(), 1) if "assert " in line
    )
    assert all(p.line == last_assert for p in problems), problems


ALLOWED = {
    "a lower bound with its comment": f"""
        started = time.monotonic()
        read_all(WavSource(path, realtime=True))
        elapsed = time.monotonic() - started
        assert elapsed >= 0.9  {LOWER_BOUND} paced by the real clock; load only makes it later
    """,
    "a lower bound with its comment on the line above": f"""
        {LOWER_BOUND} the receiver slept 0.2 s; load only adds to it
        assert delivery is not None and delivery.attempts[0].duration_ms >= 200
    """,
    "a lower bound written the other way round": f"""
        assert TIMEOUT * 1000 <= delivery.attempts[0].duration_ms  {LOWER_BOUND} it waited the timeout out
    """,
    "a lower bound over several lines": f"""
        assert (
            time.monotonic() - began >= own.timeout
        )  {LOWER_BOUND} it was given its whole timeout
    """,
    "a virtual clock's seconds named elapsed": """
        elapsed = emu.fast_forward()
        assert timedelta(seconds=elapsed) == ended[2] - ended[0]
        assert elapsed > 3600
    """,
    "one measure reported in two places": """
        [chunk] = order["chunks"]
        assert order["firstChunkMs"] == order["lastChunkMs"] == chunk["latencyMs"]
    """,
    "an exact schedule built from a duration": """
        one, two = delivery.attempts
        ended = one.at + timedelta(milliseconds=one.duration_ms)
        assert two.at == ended + timedelta(seconds=300)
    """,
    "virtual-clock and audio lengths": """
        assert call.duration_seconds == 12
        assert speaker.played_seconds == pytest.approx(0.3)
        assert (emu.clock.now() - start).total_seconds() == 3.0
        assert cut_at + dropped == pytest.approx(10.0) and dropped > 0
    """,
    "a hang guard that fails instead of asserting": """
        deadline = time.monotonic() + 60
        while not done():
            if time.monotonic() > deadline:
                pytest.fail("hang guard: the server did not start in 60 s")
            time.sleep(0.01)
    """,
    "presence, not size": """
        assert reply.first_chunk_ms is not None
        assert isinstance(chunk["latencyMs"], float)
    """,
    "a timestamp made for a signature, not measured": """
        timestamp = int(time.time()) + skew
        assert verify(body, signature, secret, timestamp)
    """,
    "the event order": """
        done, _ = await asyncio.wait([healthy, *stuck], return_when=asyncio.FIRST_COMPLETED)
        assert done == {healthy}
        assert server.holding == 1 and not exchange.done()
    """,
    "a datetime's time of day": """
        assert moment.time() < cutoff
    """,
}


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_what_is_not_a_wall_clock_assert_passes(source: str) -> None:
    assert wall_clock_asserts(textwrap.dedent(source)) == []


def test_the_message_names_the_comparison_and_what_to_do_instead() -> None:
    [lower] = wall_clock_asserts("assert final.latency_ms >= 300\n")
    assert lower.line == 1 and "final.latency_ms >= 300" in lower.message and LOWER_BOUND in lower.message
    [upper] = wall_clock_asserts(f"assert result.wall_s < 1.0  {LOWER_BOUND} no\n")
    assert "result.wall_s < 1.0" in upper.message and "lower bounds only" in upper.message
    assert upper.at("tests/test_x.py").startswith("tests/test_x.py:1: a wall-clock comparison")
