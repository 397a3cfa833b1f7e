"""Who the bot answers: owners, then the allowed users, in the allowed channels; everyone else is ignored.

`Access.decide` is a pure function of the settings and one message's ids. `Gatekeeper` adds the one side
effect: a refused user or channel is logged once, so strangers cannot fill the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from variet.assistant.settings import DiscordSettings

__all__ = ["Access", "Gatekeeper", "Verdict"]

log = logging.getLogger("variet.assistant")


class Verdict(Enum):
    OWNER = "owner"
    ALLOWED = "allowed"
    STRANGER = "stranger"
    """Not an owner and not in `allowed_user_ids`."""
    WRONG_CHANNEL = "wrong channel"
    """Allowed, but in a server channel outside `allowed_channel_ids`."""

    @property
    def admitted(self) -> bool:
        return self in (Verdict.OWNER, Verdict.ALLOWED)


@dataclass(frozen=True)
class Access:
    """The rules from `[discord]`: owner_ids, allowed_user_ids and allowed_channel_ids."""

    owners: frozenset[int]
    users: frozenset[int]
    channels: frozenset[int]

    @classmethod
    def from_settings(cls, settings: DiscordSettings) -> Access:
        return cls(frozenset(settings.owner_ids), frozenset(settings.allowed_user_ids),
                   frozenset(settings.allowed_channel_ids))

    def is_owner(self, user_id: int) -> bool:
        return user_id in self.owners

    def decide(self, user_id: int, *, channel_ids: tuple[int, ...], in_dm: bool) -> Verdict:
        """Whether `user_id` may talk to the bot here. `channel_ids`: the channel, then a thread's parent."""
        if user_id in self.owners:
            return Verdict.OWNER
        if user_id not in self.users:
            return Verdict.STRANGER
        if in_dm or not self.channels or any(channel in self.channels for channel in channel_ids):
            return Verdict.ALLOWED
        return Verdict.WRONG_CHANNEL


@dataclass
class Gatekeeper:
    """`Access` plus a note in the log the first time each refused user (or channel) shows up."""

    access: Access
    _noted: set[tuple[str, int]] = field(default_factory=set)

    def admit(self, user_id: int, *, channel_ids: tuple[int, ...], in_dm: bool) -> Verdict:
        verdict = self.access.decide(user_id, channel_ids=channel_ids, in_dm=in_dm)
        if verdict is Verdict.STRANGER:
            self._note("user", user_id, "not in [discord] owner_ids or allowed_user_ids")
        elif verdict is Verdict.WRONG_CHANNEL:
            self._note("channel", channel_ids[0], "not in [discord] allowed_channel_ids")
        return verdict

    def _note(self, kind: str, ident: int, why: str) -> None:
        if (kind, ident) not in self._noted:
            self._noted.add((kind, ident))
            log.info("ignoring messages from %s %d (%s); logged once", kind, ident, why)
