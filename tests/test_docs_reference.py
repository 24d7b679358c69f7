"""The reference pages (docs/reference/) are generated from the docstrings: build the site as a user
would, read what it says, and make sure nothing public can be added without a docstring.

- The site builds with ``mkdocs build --strict`` (a broken link, an anchor that is not there, a
  docstring naming a parameter the signature lacks: each is a warning, so an error).
- The pages name each attribute with its type (``transcript: list[TranscriptEntry]``).
- Every object a reference page shows (each ``::: path``) has a docstring, and so has each of its
  public attributes and methods; a method's docstring describes every parameter, and what it
  returns unless that is None. The check reads the package with griffe, as mkdocstrings does.
"""

from __future__ import annotations

import functools
import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
PACKAGES = {"agentphone_emulator": ROOT / "emulator", "pytest_agentphone": ROOT / "pytest_plugin"}

# What the reference must cover whatever the pages say: the objects a user holds.
REQUIRED = {
    "agentphone_emulator.server.Emulator",
    "agentphone_emulator.call_handle.CallHandle",
    "agentphone_emulator.call_handle.TranscriptEntry",
    "agentphone_emulator.engine.agent_reply.AgentReply",
    "agentphone_emulator.engine.agent_reply.HeardChunk",
    "agentphone_emulator.store.findings.Finding",
    "agentphone_emulator.store.records.DeliveryRecord",
    "agentphone_emulator.store.records.DeliveryAttempt",
    "agentphone_emulator.clock.VirtualClock",
    "agentphone_emulator.settings.AccountSettings",
    "pytest_agentphone.agents.AgentUnderTest",
    "pytest_agentphone.fixtures.emulator",
    "pytest_agentphone.fixtures.async_emulator",
    "pytest_agentphone.fixtures.make_agent",
}
FIXTURE_DECORATORS = ("pytest.fixture", "pytest_asyncio.fixture", "async_fixture")


def page_text(path: Path) -> str:
    """A built page's main content as plain text, whitespace collapsed (types are split over
    several tags, and their punctuation is escaped)."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    yield out


def test_the_site_builds_strict_and_every_page_is_in_the_nav(site: Path) -> None:
    # A page left out of the nav would build but be found by no reader.
    assert (site / "reference" / "index.html").exists()
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").rglob("*.md")):
        assert str(page.relative_to(ROOT / "docs")) in nav, f"{page} is not in mkdocs.yml's nav"


def test_the_call_page_names_each_attribute_with_its_type(site: Path) -> None:
    text = page_text(site / "reference" / "calls" / "index.html")
    # The question that started it: what is call.transcript?
    assert "transcript: list[TranscriptEntry]" in text
    assert "role: str" in text and "content: str" in text
    assert "Bases: NamedTuple" in text
    for attribute in (
        "turn: int",
        "utterance: str",
        "requested_at: datetime",
        "chunks: list[HeardChunk]",
        "findings: list[Finding]",
        "state: ReplyState",
        "delivery_id: str | None",
        "http_status: int | None",
        "text: str",
        "first_chunk_ms: float | None",
        "latency_ms: float",
        "spoken: str",
    ):
        assert attribute in text, attribute
    # A method's parameters with their types and defaults, and what it returns.
    assert "asay( text: str, *, confidence: float = DEFAULT_CONFIDENCE, listen: bool = True," in text
    assert "What the caller says." in text
    assert "_closed" not in text  # the engine's own state is not the user's


def test_the_other_pages_name_their_types(site: Path) -> None:
    pages = {
        "deliveries": ["attempts: list[DeliveryAttempt]", "payload: bytes", "duration_ms: float"],
        "emulator": ["deliveries( api_key: str | None = None, ) -> list[DeliveryRecord]", "base_url: str"],
        "findings": ["code: FindingCode", "offending: bytes | None", "webhook_timeout"],
        "clock": ["advance(seconds: float) -> datetime", "DEFAULT_START"],
        "settings": ["credit_cents: int", "Starting balance in cents ($5.00)."],
        "pytest": ["make_agent", "number: str", "assert_no_findings", "AsyncAgentPhone"],
    }
    for page, expected in pages.items():
        text = page_text(site / "reference" / page / "index.html")
        for item in expected:
            assert item in text, f"{page}: {item}"


# -- every public name documented -----------------------------------------------------------------


def documented_objects() -> list[str]:
    """Every ``::: path`` on the reference pages."""
    paths = []
    for page in sorted(REFERENCE.glob("*.md")):
        paths += re.findall(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), flags=re.M)
    return paths


@functools.cache
def package(name: str) -> griffe.Object:
    loaded = griffe.load(name, search_paths=[str(PACKAGES[name])], docstring_parser=griffe.Parser.google)
    assert isinstance(loaded, griffe.Object)
    return loaded


def load(path: str) -> griffe.Object:
    name, rest = path.split(".", 1)
    found = package(name)[rest]
    if isinstance(found, griffe.Alias):  # a package's re-export: server/__init__'s Emulator
        found = found.final_target
    assert isinstance(found, griffe.Object), path
    return found


def section(obj: griffe.Object, kind: str) -> list[griffe.DocstringSection]:
    return [s for s in obj.docstring.parsed if s.kind.value == kind] if obj.docstring else []


def problems_of_function(function: griffe.Function, *, params_in: griffe.Object | None = None) -> list[str]:
    """What the docstring of ``function`` leaves out: a parameter, or what it returns. With
    ``params_in`` (a class, for its ``__init__``) the parameters are looked for there."""
    if params_in is None and (not function.docstring or not function.docstring.value.strip()):
        return [f"{function.path}: no docstring"]
    problems = []
    decorators = [str(d.value).split("(")[0] for d in function.decorators]
    fixture = any(d in FIXTURE_DECORATORS for d in decorators)
    # A fixture's parameters are other fixtures, pytest's business; the user gets what it gives.
    if not fixture:
        owner = params_in or function
        described = {p.name.lstrip("*") for s in section(owner, "parameters") for p in s.value}
        for parameter in function.parameters:
            if parameter.name not in ("self", "cls") and parameter.name not in described:
                problems.append(f"{function.path}: parameter {parameter.name!r} is not described")
    returns = function.returns
    gives_nothing = returns is None or str(returns) in ("None", "AsyncIterator[None]", "Iterator[None]")
    described_return = section(function, "returns") or section(function, "yields")
    if params_in is None and not gives_nothing and "property" not in function.labels and not described_return:
        problems.append(f"{function.path}: what it returns ({returns}) is not described")
    return problems


def problems_of(obj: griffe.Object) -> list[str]:
    if not obj.docstring or not obj.docstring.value.strip():
        return [f"{obj.path}: no docstring"]
    if isinstance(obj, griffe.Function):
        return problems_of_function(obj)
    if not isinstance(obj, griffe.Class):
        return []
    problems = []
    init = obj.members.get("__init__")
    records = "dataclass" in obj.labels or any(
        str(base).endswith(("BaseModel", "NamedTuple")) for base in obj.bases
    )
    if isinstance(init, griffe.Function) and not records:  # its fields are its documented attributes
        problems += problems_of_function(init, params_in=obj)
    for name, member in obj.all_members.items():
        # An inherited member is the class's own to a reader (the Emulator's methods live in the
        # parts it is built from, emulator_*.py); any other alias is a name imported, not its.
        if name.startswith("_") or name == "model_config" or (member.is_alias and not member.inherited):
            continue
        if isinstance(member, griffe.Alias):
            member = member.final_target
        if not member.docstring or not member.docstring.value.strip():
            problems.append(f"{member.path}: no docstring")
        elif isinstance(member, griffe.Function):
            problems += problems_of_function(member)
    return problems


def test_the_reference_covers_what_users_hold() -> None:
    missing = REQUIRED - set(documented_objects())
    assert not missing, f"not on any docs/reference page: {sorted(missing)}"


def test_every_public_attribute_and_method_is_documented() -> None:
    problems = [problem for path in documented_objects() for problem in problems_of(load(path))]
    assert not problems, "undocumented in the reference:\n" + "\n".join(problems)


def test_the_check_finds_what_is_undocumented(tmp_path: Path) -> None:
    """The check above would catch a new method without a docstring, or an undescribed parameter."""
    module = tmp_path / "sample_pkg"
    module.mkdir()
    (module / "__init__.py").write_text(
        '''
class Part:
    """What a thing is built from: its methods are the thing's too."""

    def lend(self) -> int:
        """Lend."""
        return 1


class Thing(Part):
    """A thing."""

    size: int
    """How big."""
    colour: str

    def grow(self, by: int, *, twice: bool = False) -> int:
        """Grow.

        Args:
            by: How much.

        Returns:
            The new size.
        """
        return by

    def shrink(self) -> int:
        """Shrink."""
        return 0

    def polish(self) -> None:
        return None
''',
        encoding="utf-8",
    )
    thing = griffe.load("sample_pkg", search_paths=[str(tmp_path)], docstring_parser=griffe.Parser.google)[
        "Thing"
    ]
    assert sorted(problems_of(thing)) == [
        "sample_pkg.Part.lend: what it returns (int) is not described",
        "sample_pkg.Thing.colour: no docstring",
        "sample_pkg.Thing.grow: parameter 'twice' is not described",
        "sample_pkg.Thing.polish: no docstring",
        "sample_pkg.Thing.shrink: what it returns (int) is not described",
    ]
