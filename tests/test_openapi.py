"""Coverage of the contract: every operation of the vendor's OpenAPI and every path the official
Python SDK calls is served, and /openapi.json describes what is served."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import agentphone.client
import pytest

from .conftest import RawApi

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VENDOR_OPENAPI = SHARED / "reference" / "agentphone-openapi.json"
_PARAM = re.compile(r"\{[^}]+\}")


def _normalise(method: str, path: str) -> tuple[str, str]:
    return method.upper(), _PARAM.sub("{}", path.split("?")[0])


def _served(api: RawApi) -> set[tuple[str, str]]:
    spec = api.get("/openapi.json").json()
    return {_normalise(m, p) for p, ops in spec["paths"].items() for m in ops}


def sdk_operations() -> set[tuple[str, str]]:
    """Every (method, path) the sync Python SDK calls, read from its source."""
    source = inspect.getsource(agentphone.client)
    ops = {
        _normalise(m, p)
        for m, p in re.findall(r'self\._(get|post|put|patch|delete)\(\s*f?"(/[^"]+)"', source)
    }
    ops |= {_normalise("GET", p) for p in re.findall(r'url = f"\{self\._client\.base_url\}(/[^"]+)"', source)}
    return ops


@pytest.mark.skipif(not VENDOR_OPENAPI.exists(), reason="the vendor OpenAPI lives in ../shared/reference")
def test_every_vendor_openapi_operation_is_served(api: RawApi) -> None:
    vendor = json.loads(VENDOR_OPENAPI.read_text())
    wanted = {
        _normalise(m, p)
        for p, ops in vendor["paths"].items()
        for m in ops
        if m in {"get", "post", "put", "patch", "delete"}
    }
    assert len(wanted) == 67
    assert sorted(wanted - _served(api)) == []


def test_every_python_sdk_path_is_served(api: RawApi) -> None:
    wanted = sdk_operations()
    assert len(wanted) > 80  # a parsing slip would otherwise pass vacuously
    assert sorted(wanted - _served(api)) == []


def test_openapi_document_is_valid_and_self_consistent(api: RawApi) -> None:
    from openapi_spec_validator import validate

    spec = api.get("/openapi.json").json()
    validate(spec)
    op_ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"
    for ops in spec["paths"].values():
        for op in ops.values():
            for response in op["responses"].values():
                for media in response.get("content", {}).values():
                    ref = media["schema"].get("$ref")
                    if ref:
                        assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref


def test_openapi_is_public(api: RawApi) -> None:
    del api.session.headers["Authorization"]
    assert api.get("/openapi.json").status_code == 200
