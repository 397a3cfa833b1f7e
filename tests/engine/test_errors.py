"""The engine's exceptions are one documented tree under `VarietError`."""

from __future__ import annotations

import ast
from pathlib import Path

import variet.engine
from variet.engine import errors
from variet.engine.errors import EngineFailure
from variet.shared.errors import VarietError

_EXCEPTION_BASES = {"Exception", "BaseException", "VarietError", *errors.__all__}


def test_every_exception_the_engine_defines_lives_in_its_error_tree() -> None:
    # Read, not imported: some modules only import on their own platform.
    root = Path(variet.engine.__file__).parent
    elsewhere = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "errors.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases}
                if bases & _EXCEPTION_BASES or any(base.endswith(("Error", "Exception")) for base in bases):
                    elsewhere.append(f"{path.relative_to(root)}: {node.name}")
    assert elsewhere == []


def test_the_tree_has_one_base_and_its_docstring_draws_every_class() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(cls, EngineFailure) and issubclass(cls, VarietError) for cls in classes)
    drawn = errors.__doc__ or ""
    assert [cls.__name__ for cls in classes if f" {cls.__name__} " not in drawn] == []
    assert all(cls.__doc__ for cls in classes)
