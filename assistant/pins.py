"""Channels pinned to a tier with `/tier`, kept in a small JSON file so a restart keeps them."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

__all__ = ["TierPins"]

log = logging.getLogger("variet.assistant")


class TierPins:
    """channel id -> tier. Reads the file once; every change rewrites it atomically."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pins: dict[int, str] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self._pins = {int(key): str(value) for key, value in data.get("tiers", {}).items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); starting without tier pins", path, exc)

    def model_for(self, channel_ids: tuple[int, ...], default: str) -> str:
        """The pin of the first of `channel_ids` that has one (a thread, then its channel), else `default`."""
        return next((self._pins[c] for c in channel_ids if c in self._pins), default)

    def pin(self, channel_id: int, model: str, *, default: str) -> None:
        """Pin `channel_id` to `model`; pinning it to `default` removes the pin."""
        if model == default:
            self._pins.pop(channel_id, None)
        else:
            self._pins[channel_id] = model
        self._save()

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{self._path.name}.tmp")
        tmp.write_text(json.dumps({"tiers": {str(k): v for k, v in self._pins.items()}}, indent=1), encoding="utf-8")
        os.replace(tmp, self._path)
