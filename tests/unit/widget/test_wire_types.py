"""The browser's request and event types are generated from the kernel's pydantic unions."""

from __future__ import annotations

import importlib.util
import typing
from pathlib import Path

from chatdf import messages
from chatdf.widget import ChatDF

ROOT = Path(__file__).resolve().parents[3]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_wire", ROOT / ".ci" / "gen_wire.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wire_types_are_generated_from_the_current_schemas() -> None:
    gen = _generator()
    committed = gen.OUTPUT.read_text()
    assert committed == gen.render(), (
        "js/src/wire.gen.ts is stale: run `python .ci/gen_wire.py` and commit it"
    )


def test_every_request_type_has_a_handler_and_a_typescript_interface() -> None:
    committed = (ROOT / "js" / "src" / "wire.gen.ts").read_text()
    union = typing.get_args(typing.get_args(messages.Request)[0])
    for model in union:
        tag = model.model_fields["type"].annotation.__args__[0]
        assert callable(getattr(ChatDF, f"_on_{tag}", None)) or tag == "cancel", tag
        assert f'type: "{tag}";' in committed
