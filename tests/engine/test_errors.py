"""The engine's exceptions are one documented tree under `VarietError`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import variet.engine
from variet.engine import errors
from variet.engine.errors import EngineFailure
from variet.shared.errors import VarietError


def engine_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(variet.engine.__path__, "variet.engine.")]


def test_every_exception_the_engine_defines_lives_in_its_error_tree() -> None:
    elsewhere = []
    for name in engine_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name \
                    and name != "variet.engine.errors":
                elsewhere.append(f"{name}.{value.__name__}")
    assert elsewhere == []


def test_the_tree_has_one_base_and_its_docstring_draws_every_class() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(cls, EngineFailure) and issubclass(cls, VarietError) for cls in classes)
    drawn = errors.__doc__ or ""
    assert [cls.__name__ for cls in classes if f" {cls.__name__} " not in drawn] == []
    assert all(cls.__doc__ for cls in classes)
