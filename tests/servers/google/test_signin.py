"""`variet auth google`: the installed-app flow end to end, a browser stand-in clicking through the fake Google."""

from __future__ import annotations

import argparse
import json
import threading
import webbrowser
from pathlib import Path

import httpx2
import pytest

from tests.fakes.google import FakeGoogle
from tests.parts.private import is_private
from variet.cli.auth import add_parser
from variet.servers.google import CALENDAR_READONLY, GMAIL_COMPOSE, GMAIL_READONLY
from variet.shared.errors import VarietError


class Browser(webbrowser.BaseBrowser):
    """Opens the consent URL like a user who agrees: follows Google's redirect back to the loopback server."""

    def __init__(self) -> None:
        super().__init__("variet-test-browser")
        self.pages: list[str] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        self.threads.append(thread)
        thread.start()
        return True

    def _visit(self, url: str) -> None:
        response = httpx2.get(url, follow_redirects=True, timeout=10)
        self.pages.append(response.text)


@pytest.fixture
def browser() -> Browser:
    instance = Browser()
    webbrowser.register(instance.name, None, instance)
    return instance


def config(tmp_path: Path, google_fake: FakeGoogle, **google: object) -> Path:
    client = {
        "installed": {
            "client_id": google_fake.client_id,
            "client_secret": google_fake.client_secret,
            "auth_uri": google_fake.url + "o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "redirect_uris": ["http://localhost"],
        }
    }
    (tmp_path / "client.json").write_text(json.dumps(client))
    lines = [
        "[google]",
        'client_file = "client.json"',
        'token_file = "tokens/google.json"',
        f'token_uri = "{google_fake.url}token"',
        f'api_endpoint = "{google_fake.url}"',
        *(f"{key} = {json.dumps(value)}" for key, value in google.items()),
    ]
    path = tmp_path / "variet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    outcome: list[int | BaseException] = []

    def target() -> None:
        try:
            outcome.append(args.handler(args))
        except BaseException as exc:
            outcome.append(exc)

    # The flow blocks on its redirect server; a thread keeps a broken flow from hanging the suite.
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert outcome, "the sign-in did not finish within 30 s"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def test_show_scopes_prints_the_narrowest_scopes_and_stops(
    google_fake: FakeGoogle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, google_fake, gmail_send=True)
    assert run("auth", "google", "--config", str(path), "--show-scopes") == 0
    out = capsys.readouterr().out
    assert CALENDAR_READONLY in out and GMAIL_READONLY in out and GMAIL_COMPOSE in out
    assert "gmail.modify" not in out and "calendar.events" not in out
    assert google_fake.token_requests == [] and not (tmp_path / "tokens").exists()


def test_a_named_account_signs_in_to_its_own_token_file(
    google_fake: FakeGoogle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, google_fake)
    with path.open("a") as fh:
        fh.write('[google.accounts.work]\ntoken_file = "tokens/work.json"\n')
    assert run("auth", "google", "--config", str(path), "--account", "work", "--show-scopes") == 0
    assert f"Token file: {tmp_path / 'tokens' / 'work.json'}" in capsys.readouterr().out
    with pytest.raises(VarietError, match="unknown Google account 'home'"):
        run("auth", "google", "--config", str(path), "--account", "home", "--show-scopes")


def test_signing_in_saves_a_private_token_after_pkce_and_state_checks(
    google_fake: FakeGoogle,
    tmp_path: Path,
    browser: Browser,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake token endpoint is plain http on loopback
    path = config(tmp_path, google_fake)
    assert run("auth", "google", "--config", str(path), "--browser", browser.name) == 0
    token = tmp_path / "tokens" / "google.json"
    saved = json.loads(token.read_text())
    assert is_private(token)
    assert sorted(saved["scopes"]) == sorted([CALENDAR_READONLY, GMAIL_READONLY])
    assert saved["refresh_token"] in google_fake.grants
    [exchange] = google_fake.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    assert exchange["redirect_uri"].startswith("http://127.0.0.1:")
    assert "Variet is signed in" in browser.pages[0]
    out = capsys.readouterr().out
    assert "Signed in" in out and "7 days" in out
    assert saved["refresh_token"] not in out and saved["token"] not in out


def test_a_forged_redirect_is_rejected_and_nothing_is_saved(
    google_fake: FakeGoogle, tmp_path: Path, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    google_fake.tamper_state = True
    path = config(tmp_path, google_fake)
    with pytest.raises(VarietError, match="Google sign-in failed"):
        run("auth", "google", "--config", str(path), "--browser", browser.name)
    assert google_fake.token_requests == []
    assert not (tmp_path / "tokens" / "google.json").exists()


def test_a_missing_client_file_explains_how_to_get_one(google_fake: FakeGoogle, tmp_path: Path) -> None:
    path = config(tmp_path, google_fake)
    (tmp_path / "client.json").unlink()
    with pytest.raises(VarietError, match="Desktop app"):
        run("auth", "google", "--config", str(path), "--no-browser")
