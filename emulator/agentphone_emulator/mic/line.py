"""The phone line: microphone mode's one call, driven over the emulator's control plane.

Mic mode is a caller like any other, so it drives the engine the way a test in another language
would (``/__emulator/calls``): ring, barge in as the person starts talking, say the words once
they are recognised, hang up, and read the call back (each reply's chunks as they arrive, the
transcript, the findings). An emulator mic mode starts itself and one started with ``serve`` are
driven the same way, so ``--agent-id`` on a served emulator is no special case.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from pydantic import ValidationError

from ..errors import error_detail
from ..models.agents import AgentOut
from ..models.control import CallSimOut, ClockOut

REQUEST_TIMEOUT_SECONDS = 30.0


class LineError(Exception):
    """The emulator refused or could not be reached: one line saying which and why (``status``:
    the HTTP status of a refusal, None if there was no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Line:
    """One simulated inbound call on an emulator at ``base_url``, as the caller."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http: aiohttp.ClientSession | None = None
        self.call_id: str | None = None

    async def __aenter__(self) -> Line:
        self._http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- the emulator -----------------------------------------------------------------------------

    async def clock(self) -> ClockOut:
        """The emulator's clock (``GET /__emulator/clock``): whether it is virtual, and its time."""
        try:
            answer = await self._request("GET", "/__emulator/clock")
        except LineError as exc:
            if exc.status == 404:  # a served emulator answers a 401 before a 404: it is one
                raise LineError(
                    f"the emulator at {self.base_url} serves no control plane (serve "
                    "--no-control-plane?): mic drives its call through /__emulator"
                ) from None
            raise
        try:
            return ClockOut.model_validate(answer)
        except ValidationError:
            raise LineError(f"{self.base_url} did not answer like an AgentPhone emulator") from None

    # -- the agent --------------------------------------------------------------------------------

    async def agent(self, agent_id: str) -> AgentOut:
        """The agent mic mode calls (``--agent-id``), as the REST API has it."""
        answer = await self._request("GET", f"/v1/agents/{agent_id}")
        try:
            return AgentOut.model_validate(answer)
        except ValidationError:
            raise LineError(f"{self.base_url} did not answer like an AgentPhone emulator") from None

    async def create_agent(self, name: str, *, begin_message: str | None = None) -> AgentOut:
        """A new agent on a number of its own, through the REST API (what mic mode calls when it
        runs the emulator itself)."""
        body: dict[str, Any] = {"name": name}
        if begin_message is not None:
            body["beginMessage"] = begin_message
        created = await self._request("POST", "/v1/agents", body)
        await self._request("POST", "/v1/numbers", {"agentId": created["id"]})
        return await self.agent(created["id"])

    # -- the call ---------------------------------------------------------------------------------

    async def ring(self, to: str, from_: str) -> CallSimOut:
        view = await self._call("POST", "/__emulator/calls", {"to": to, "from": from_})
        self.call_id = view.call_id
        return view

    async def barge_in(self, *, started_ago: float) -> CallSimOut:
        """The person started talking ``started_ago`` seconds ago: the agent stops there (a no-op
        if it is quiet)."""
        body = {"startedAgo": round(max(0.0, started_ago), 3)}
        return await self._call("POST", f"{self._path}/barge-in", body)

    async def say(
        self, text: str, *, said_over: float, confidence: float, barge_in: bool = True
    ) -> CallSimOut:
        """The person said ``text`` over the last ``said_over`` seconds; answers once it is sent
        (without ``barge_in``, once the agent has finished what it was saying)."""
        body = {
            "text": text,
            "saidOver": round(max(0.0, said_over), 3),
            "bargeIn": barge_in,
            "listen": False,
            "confidence": confidence,
        }
        return await self._call("POST", f"{self._path}/say", body)

    async def press(self, digits: str) -> CallSimOut:
        """The person pressed keys; answers once the agent has answered them."""
        return await self._call("POST", f"{self._path}/press", {"digits": digits})

    async def hangup(self) -> CallSimOut:
        return await self._call("POST", f"{self._path}/hangup")

    async def view(self) -> CallSimOut:
        return await self._call("GET", self._path)

    @property
    def _path(self) -> str:
        if self.call_id is None:
            raise LineError("no call yet: ring first")
        return f"/__emulator/calls/{self.call_id}"

    async def _call(self, method: str, path: str, body: Any = None) -> CallSimOut:
        answer = await self._request(method, path, body)
        try:
            return CallSimOut.model_validate(answer)
        except ValidationError:
            raise LineError(f"{self.base_url} did not answer like an AgentPhone emulator") from None

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None, "use the Line as an async context manager"
        try:
            async with self._http.request(method, self.base_url + path, json=body) as response:
                raw = await response.read()
                if response.status >= 400:
                    detail = error_detail(raw)  # as `trigger` reads the emulator's refusals
                    if detail is None:
                        raise LineError(
                            f"HTTP {response.status} from {self.base_url}, which does not answer like an "
                            "AgentPhone emulator"
                        )
                    raise LineError(f"HTTP {response.status}: {detail}", response.status)
                try:
                    return json.loads(raw)
                except ValueError:
                    return None  # the callers' validation says it is not an emulator
        except aiohttp.ClientError as exc:
            raise LineError(f"cannot reach the emulator at {self.base_url}: {exc}") from None
        except TimeoutError:
            raise LineError(
                f"the emulator at {self.base_url} did not answer {method} {path} within "
                f"{REQUEST_TIMEOUT_SECONDS:.0f} s"
            ) from None
