"""Owners and allowed users are answered where allowed; everyone else is ignored and logged once."""

from __future__ import annotations

import logging

import pytest

from variet.assistant.access import Access, Gatekeeper, Verdict
from variet.assistant.settings import DiscordSettings

RULES = Access.from_settings(DiscordSettings(owner_ids=(1,), allowed_user_ids=(2,), allowed_channel_ids=(10,)))


def test_owners_are_answered_anywhere() -> None:
    assert RULES.decide(1, channel_ids=(99,), in_dm=False) is Verdict.OWNER


def test_allowed_users_are_answered_in_dms_and_allowed_channels_and_their_threads() -> None:
    assert RULES.decide(2, channel_ids=(5,), in_dm=True) is Verdict.ALLOWED
    assert RULES.decide(2, channel_ids=(10,), in_dm=False) is Verdict.ALLOWED
    assert RULES.decide(2, channel_ids=(77, 10), in_dm=False) is Verdict.ALLOWED
    assert RULES.decide(2, channel_ids=(11,), in_dm=False) is Verdict.WRONG_CHANNEL


def test_with_no_owner_and_no_allowed_users_nobody_is_answered() -> None:
    nobody = Access.from_settings(DiscordSettings())
    assert nobody.decide(1, channel_ids=(1,), in_dm=True) is Verdict.STRANGER


def test_a_stranger_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "variet.assistant")
    gate = Gatekeeper(RULES)
    for _ in range(3):
        assert not gate.admit(3, channel_ids=(5,), in_dm=True).admitted
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring messages from user 3 (not in [discord] owner_ids or allowed_user_ids); logged once"]
