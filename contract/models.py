"""`GET /v1/models`: OpenAI's model list, each tier with the facts a client needs, and `auto`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from variet.contract._base import Answer
from variet.contract.status import LOCAL_BOX

__all__ = ["AUTO_MODEL", "ModelEntry", "ModelList", "TierFacts"]

AUTO_MODEL = "auto"
"""The model name that lets the engine's router pick the tier."""


class TierFacts(Answer):
    """What a tier is: its model, context, placement, strengths and expected speeds."""

    model_file: str
    context: int = Field(description="Context size in tokens: prompt and answer together fit in it.")
    max_output_tokens: int = Field(default=0, description="The longest answer the tier can give (its context).")
    tool_calling: bool = Field(default=True, description="Whether the tier takes OpenAI `tools`.")
    gpus: list[int] = Field(description="GPU indices; empty for the CPU.")
    split: str | None = Field(description="How a multi-GPU tier is split (layer, row), else null.")
    strengths: list[str]
    expected_tokens_per_second: float
    expected_load_seconds: float
    resident: bool = Field(default=False, description="Stays loaded beside the swapping tier: never waits for a swap.")
    fim: bool = Field(default=False, description="Takes fill-in-the-middle requests (`/infill`) without a `model`.")


class ModelEntry(Answer):
    """One model name clients may send: a tier, or `auto`."""

    id: str
    object: Literal["model"] = "model"
    owned_by: str = "variet"
    created: int
    description: str = ""
    aliases: list[str] = Field(default_factory=list, description="Other names for this tier.")
    loaded: bool = False
    tier: TierFacts | None = Field(default=None, description="Null for `auto`.")
    box: str = Field(default=LOCAL_BOX, description="Where the tier runs: `local`, or the name of the peer engine.")
    box_up: bool = Field(default=True, description="Whether that box answers now.")


class ModelList(Answer):
    object: Literal["list"] = "list"
    data: list[ModelEntry]

    @property
    def tiers(self) -> list[ModelEntry]:
        """The entries that are tiers (not `auto`), in the engine's order."""
        return [entry for entry in self.data if entry.tier is not None]

    def names(self) -> list[str]:
        """The tier names (not aliases, not `auto`)."""
        return [entry.id for entry in self.tiers]
