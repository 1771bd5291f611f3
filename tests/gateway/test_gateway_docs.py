"""docs/gateway.md's factory example is a working factory module, and its settings table is complete."""

from __future__ import annotations

import re
from pathlib import Path

from rtvoice import RealtimeAgent
from rtvoice_gateway.numbers import CallDetails, resolve_factory

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "gateway.md").read_text()


def test_the_factory_example_loads_and_builds_an_agent_with_its_tools(tmp_path: Path) -> None:
    (block,) = re.findall(r"^```python\n(.*?)^```$", DOC, re.DOTALL | re.MULTILINE)
    (tmp_path / "agent.py").write_text(block)
    factory = resolve_factory("agent.py:make_agent", base=tmp_path)
    agent = factory(CallDetails(call_sid="CA1", from_number="+15550100123", to_number="+15550100001"))
    assert isinstance(agent, RealtimeAgent)
    assert {d.name for d in agent.tool_calls.definitions()} == {"end_call", "transfer_to_manager"}


def test_every_variable_of_env_example_is_in_the_settings_table() -> None:
    names = re.findall(r"^#?\s*([A-Z_]{4,})=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert len(names) >= 13
    for name in names:
        assert f"`{name}`" in DOC, name
