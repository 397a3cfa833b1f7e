"""The base of every contract model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Answer"]


class Answer(BaseModel):
    """A JSON body the engine sends: immutable, and tolerant of fields a newer engine adds."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)
