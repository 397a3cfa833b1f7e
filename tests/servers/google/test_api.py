"""Google sign-in, scopes, retries and error translation, against the fake Google over real HTTP."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.fakes.google import FakeGoogle
from tests.parts.private import FIX_FILE, expose, is_private
from variet.servers.google import (
    CALENDAR_EVENTS,
    CALENDAR_READONLY,
    GMAIL_COMPOSE,
    GMAIL_MODIFY,
    GMAIL_READONLY,
    GoogleApi,
    GoogleAuthError,
    GoogleNotFound,
    GoogleRateLimited,
    GoogleScopeError,
    GoogleUnavailable,
    scopes_for,
    token_path,
)
from variet.shared.config import GoogleSettings, Settings
from variet.shared.errors import ConfigError
from variet.shared.secrets import write_private_file

MAIL = {GMAIL_READONLY}


def labels(client: Any) -> Any:
    return client.users().labels().list(userId="me")


def draft(client: Any) -> Any:
    return client.users().drafts().create(userId="me", body={"message": {"raw": "VG86IGFAZXhhbXBsZS5vcmcKCmhp"}})


def token(settings: Settings) -> Path:
    return Path(settings.google.token_file)


def rewrite_token(settings: Settings, **changes: Any) -> None:
    info = json.loads(token(settings).read_text())
    token(settings).write_text(json.dumps(info | changes))


def saved_token(settings: Settings) -> tuple[dict[str, Any], bool]:
    """The token file's JSON and whether it is private."""
    return json.loads(token(settings).read_text()), is_private(token(settings))


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def test_scopes_are_read_only_by_default_and_writing_adds_the_narrowest() -> None:
    assert scopes_for(GoogleSettings()) == (CALENDAR_READONLY, GMAIL_READONLY)
    assert scopes_for(GoogleSettings(calendar_write=True), "calendar") == (CALENDAR_READONLY, CALENDAR_EVENTS)
    assert scopes_for(GoogleSettings(gmail_send=True), "gmail") == (GMAIL_READONLY, GMAIL_COMPOSE)
    assert scopes_for(GoogleSettings(gmail_modify=True, calendar_write=True), "gmail") == (GMAIL_READONLY, GMAIL_MODIFY)


def test_named_accounts_have_their_own_token_files(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"google": {"account": "work", "accounts": {"work": {"token_file": str(tmp_path / "work.json")}}}}
    )
    assert token_path(settings) == tmp_path / "work.json"
    assert token_path(settings, "work") == tmp_path / "work.json"
    with pytest.raises(ConfigError, match=r"unknown Google account 'home'.*configured: work"):
        token_path(settings, "home")


def test_private_files_are_written_owner_only_in_an_owner_only_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "token.json"
    write_private_file(path, "{}")
    expose(path)
    write_private_file(path, '{"a": 1}')
    assert is_private(path)
    assert is_private(path.parent)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]


@pytest.mark.anyio
async def test_an_expired_access_token_is_refreshed_on_401_and_the_call_succeeds(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    settings = google_fake.settings(tmp_path, {GMAIL_READONLY, CALENDAR_READONLY})
    rewrite_token(settings, token_uri="https://oauth2.googleapis.com/token")  # as saved; the setting must win
    google_fake.expire_access_tokens()
    api = GoogleApi(settings, "gmail")
    with anyio.fail_after(10):
        answer = await api.call(labels)
    assert "labels" in answer
    [refresh] = google_fake.token_requests
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["scope"] == GMAIL_READONLY  # the gmail server asks only for its own scope
    assert google_fake.api_calls == [("GET", "/gmail/v1/users/me/labels")] * 2


@pytest.mark.anyio
async def test_a_rotated_refresh_token_is_saved_privately(google_fake: FakeGoogle, tmp_path: Path) -> None:
    settings = google_fake.settings(tmp_path, MAIL)
    google_fake.rotate_refresh_tokens = True
    google_fake.expire_access_tokens()
    with anyio.fail_after(10):
        await GoogleApi(settings, "gmail").call(labels)
        saved, private = saved_token(settings)
        assert not google_fake.grants[saved["refresh_token"]].revoked
        assert private
        google_fake.expire_access_tokens()
        await GoogleApi(settings, "gmail").call(labels)  # a new process with the saved file still works


@pytest.mark.anyio
async def test_a_revoked_sign_in_says_to_run_variet_auth_google(google_fake: FakeGoogle, tmp_path: Path) -> None:
    settings = google_fake.settings(tmp_path, MAIL, account=None)
    google_fake.revoke_all()
    with anyio.fail_after(10), pytest.raises(GoogleAuthError) as caught:
        await GoogleApi(settings, "gmail").call(labels)
    assert "run `variet auth google`" in str(caught.value)
    assert "7 days" in str(caught.value) and "Testing" in str(caught.value)


@pytest.mark.anyio
async def test_a_missing_or_readable_token_file_is_refused_with_what_to_do(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    settings = google_fake.settings(tmp_path, MAIL)
    expose(token(settings))
    with anyio.fail_after(10):
        with pytest.raises(GoogleAuthError, match=FIX_FILE):
            await GoogleApi(settings, "gmail").call(labels)
        token(settings).unlink()
        with pytest.raises(GoogleAuthError, match=r"no Google sign-in found .* run `variet auth google`"):
            await GoogleApi(settings, "gmail").call(labels)
    assert google_fake.api_calls == []


@pytest.mark.anyio
async def test_rate_limits_back_off_a_bounded_number_of_times_then_say_so(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    settings = google_fake.settings(tmp_path, MAIL, max_retries=2, retry_base_seconds=0.5)
    google_fake.fail("/labels", 429, times=5)
    sleeps = Sleeps()
    with anyio.fail_after(10), pytest.raises(GoogleRateLimited, match="still after 3 attempts"):
        await GoogleApi(settings, "gmail", sleep=sleeps).call(labels)
    assert sleeps.seconds == [0.5, 1.0]
    assert len(google_fake.api_calls) == 3


@pytest.mark.anyio
async def test_a_passing_rate_limit_is_retried_after_the_servers_retry_after(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    settings = google_fake.settings(tmp_path, MAIL)
    google_fake.fail("/labels", 403, reason="userRateLimitExceeded", retry_after="2")
    sleeps = Sleeps()
    with anyio.fail_after(10):
        answer = await GoogleApi(settings, "gmail", sleep=sleeps).call(labels)
    assert "labels" in answer and sleeps.seconds == [2.0]


@pytest.mark.anyio
async def test_server_errors_are_retried_for_reads_but_never_for_writes(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    settings = google_fake.settings(tmp_path, {GMAIL_READONLY, GMAIL_COMPOSE}, gmail_compose=True)
    google_fake.fail("/labels", 503)
    google_fake.fail("/drafts", 503)
    api = GoogleApi(settings, "gmail", sleep=Sleeps())
    with anyio.fail_after(10):
        await api.call(labels)
        with pytest.raises(Exception, match="answered 503"):
            await api.call(draft, needs=GMAIL_COMPOSE)
    assert [path for _, path in google_fake.api_calls].count("/gmail/v1/users/me/drafts") == 1


@pytest.mark.anyio
async def test_a_missing_scope_names_the_setting_to_change(google_fake: FakeGoogle, tmp_path: Path) -> None:
    settings = google_fake.settings(tmp_path, MAIL)
    with anyio.fail_after(10), pytest.raises(GoogleScopeError) as caught:
        await GoogleApi(settings, "gmail").call(draft, needs=GMAIL_COMPOSE)
    text = str(caught.value)
    assert "`gmail.compose`" in text
    assert "Set `[google] gmail_compose = true`" in text and "VARIET_GOOGLE_GMAIL_COMPOSE=true" in text
    assert "then run `variet auth google`" in text


@pytest.mark.anyio
async def test_a_refresh_for_scopes_never_granted_says_to_sign_in_again(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    settings = google_fake.settings(tmp_path, MAIL, gmail_modify=True)
    google_fake.expire_access_tokens()
    with anyio.fail_after(10), pytest.raises(GoogleAuthError, match=r"does not cover .*gmail\.modify.*variet auth"):
        await GoogleApi(settings, "gmail").call(labels)


@pytest.mark.anyio
async def test_not_found_and_unreachable_are_told_apart(google_fake: FakeGoogle, tmp_path: Path) -> None:
    settings = google_fake.settings(tmp_path, MAIL)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nowhere = settings.model_copy(
        update={"google": settings.google.model_copy(update={"api_endpoint": f"http://127.0.0.1:{closed_port}/"})}
    )
    with anyio.fail_after(10):
        with pytest.raises(GoogleNotFound, match="check the id"):
            await GoogleApi(settings, "gmail").call(lambda c: c.users().messages().get(userId="me", id="nope"))
        with pytest.raises(GoogleUnavailable, match=f"127.0.0.1:{closed_port}"):
            await GoogleApi(nowhere, "gmail").call(labels)
