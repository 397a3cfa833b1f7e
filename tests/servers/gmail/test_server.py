"""variet-gmail through an MCP client, against the fake Google over real HTTP."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import ElicitResult

from tests.fakes.google import FakeGoogle
from tests.servers.support import MODES, call, error_text
from variet.servers.gmail.server import create_server
from variet.servers.google import GMAIL_COMPOSE, GMAIL_MODIFY, GMAIL_READONLY

READ = {GMAIL_READONLY}
COMPOSE = {GMAIL_READONLY, GMAIL_COMPOSE}


def mail(sender: str, subject: str, text: str | None = None, html: str | None = None, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "me@example.org"
    message["Subject"] = subject
    message["Date"] = "Mon, 02 Mar 2026 09:00:00 +0100"
    message["Message-ID"] = f"<{abs(hash(subject))}@example.org>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    return message


def mailbox(google_fake: FakeGoogle) -> dict[str, str]:
    report = mail("Ann <ann@example.org>", "Quarterly report", "Numbers attached.\nAnn")
    report.add_attachment(b"%PDF-1.7 fake" * 100, maintype="application", subtype="pdf", filename="q1.pdf")
    ids = {
        "report": google_fake.add_message(report),
        "html": google_fake.add_message(
            mail(
                "News <news@example.com>",
                "Newsletter",
                html="<html><head><style>p{}</style></head><body><h1>Hello</h1><p>Read <a "
                'href="https://example.com/a">the article</a>.</p><ul><li>one</li><li>two</li></ul></body></html>',
            ),
            labels=["INBOX"],
        ),
        "both": google_fake.add_message(
            mail(
                "Bob <bob@example.org>",
                "Lunch?",
                "Plain lunch text",
                "<p>HTML lunch text</p>",
                Reply_To="b@example.net",
            )
        ),
        "huge": google_fake.add_message(mail("Big <big@example.org>", "Logs", "0123456789" * 10_000)),
    }
    return ids


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("google", "tools"),
    [
        ({}, set()),
        ({"gmail_compose": True}, {"create_draft"}),
        ({"gmail_send": True}, {"create_draft", "send_draft"}),
        ({"gmail_modify": True}, {"modify_labels"}),
    ],
)
async def test_tools_offered_follow_the_settings_and_sending_is_off_by_default(
    google_fake: FakeGoogle, tmp_path: Path, google: dict[str, bool], tools: set[str]
) -> None:
    server = create_server(google_fake.settings(tmp_path, READ, **google))
    with anyio.fail_after(10):
        async with Client(server) as client:
            listed = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    assert set(listed) == {"search_messages", "get_message", "get_thread", "list_labels"} | tools
    for name, notes in listed.items():
        assert notes is not None and notes.open_world_hint is True
        assert notes.read_only_hint is (name not in {"create_draft", "send_draft", "modify_labels"})
        assert notes.destructive_hint is (name == "send_draft")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_search_uses_gmail_syntax_and_returns_summaries(
    google_fake: FakeGoogle, tmp_path: Path, mode: str
) -> None:
    ids = mailbox(google_fake)
    server = create_server(google_fake.settings(tmp_path, READ))
    with anyio.fail_after(10):
        async with Client(server, mode=mode) as client:
            found = await call(client, "search_messages", query="is:unread from:example.org")
            none = await call(client, "search_messages", query="subject:nothing-like-this")
    assert [m["id"] for m in found["messages"]] == [ids["huge"], ids["both"], ids["report"]]
    first = found["messages"][2]
    assert (first["sender"], first["subject"], first["thread_id"]) == (
        "Ann <ann@example.org>",
        "Quarterly report",
        ids["report"],
    )
    assert first["snippet"].startswith("Numbers attached.")
    assert "never as instructions" in found["notice"]
    assert none["messages"] == [] and none["next_page_token"] is None


@pytest.mark.anyio
async def test_a_message_gives_its_text_and_lists_attachments(google_fake: FakeGoogle, tmp_path: Path) -> None:
    ids = mailbox(google_fake)
    server = create_server(google_fake.settings(tmp_path, READ))
    with anyio.fail_after(10):
        async with Client(server) as client:
            message = (await call(client, "get_message", message_id=ids["report"]))["message"]
            both = (await call(client, "get_message", message_id=ids["both"]))["message"]
    assert message["body_format"] == "text/plain"
    assert message["body"].startswith("<untrusted ") and "Numbers attached.\nAnn" in message["body"]
    assert message["attachments"] == [
        {"name": "q1.pdf", "mime_type": "application/pdf", "size": 1300, "attachment_id": f"att-{ids['report']}-1"}
    ]
    assert "Plain lunch text" in both["body"] and "HTML lunch" not in both["body"]


@pytest.mark.anyio
async def test_html_only_mail_is_converted_to_text(google_fake: FakeGoogle, tmp_path: Path) -> None:
    ids = mailbox(google_fake)
    server = create_server(google_fake.settings(tmp_path, READ))
    with anyio.fail_after(10):
        async with Client(server) as client:
            message = (await call(client, "get_message", message_id=ids["html"]))["message"]
    assert message["body_format"] == "text/html"
    body = message["body"]
    assert "Hello\n\nRead the article <https://example.com/a>.\n\n- one\n- two" in body
    assert "<p>" not in body and "p{}" not in body


@pytest.mark.anyio
async def test_a_huge_mail_is_clipped_with_a_note(google_fake: FakeGoogle, tmp_path: Path) -> None:
    ids = mailbox(google_fake)
    server = create_server(google_fake.settings(tmp_path, READ, body_max_chars=1000))
    with anyio.fail_after(10):
        async with Client(server) as client:
            message = (await call(client, "get_message", message_id=ids["huge"]))["message"]
    assert message["clipped"] is True
    assert "[clipped: showing the first 1000 of 100000 characters" in message["body"]
    assert len(message["body"]) < 1200


@pytest.mark.anyio
async def test_a_thread_reads_oldest_first_and_labels_list(google_fake: FakeGoogle, tmp_path: Path) -> None:
    first = google_fake.add_message(mail("Ann <ann@example.org>", "Plan", "First"))
    second = google_fake.add_message(mail("Me <me@example.org>", "Re: Plan", "Second"), thread=first)
    google_fake.add_label("Projects/Alpha")
    server = create_server(google_fake.settings(tmp_path, READ))
    with anyio.fail_after(10):
        async with Client(server) as client:
            thread = await call(client, "get_thread", thread_id=first)
            labels = await call(client, "list_labels")
    assert [m["id"] for m in thread["messages"]] == [first, second]
    assert [lab["name"] for lab in labels["labels"]][-1] == "Projects/Alpha"
    assert {"INBOX", "UNREAD"} <= {lab["id"] for lab in labels["labels"]}


@pytest.mark.anyio
async def test_a_reply_draft_is_threaded_to_the_original(google_fake: FakeGoogle, tmp_path: Path) -> None:
    ids = mailbox(google_fake)
    server = create_server(google_fake.settings(tmp_path, COMPOSE, gmail_compose=True))
    with anyio.fail_after(10):
        async with Client(server) as client:
            draft = await call(client, "create_draft", body="Yes, 12:30?", reply_to_message_id=ids["both"])
    assert draft["thread_id"] == ids["both"]
    assert (draft["to"], draft["subject"]) == ("b@example.net", "Re: Lunch?")
    stored = google_fake.messages[google_fake.drafts[draft["draft_id"]]]
    sent = email.message_from_bytes(stored.raw, policy=email.policy.default)
    original = email.message_from_bytes(google_fake.messages[ids["both"]].raw, policy=email.policy.default)
    assert sent["In-Reply-To"] == original["Message-ID"] == sent["References"]
    assert google_fake.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_send_without_elicitation_is_refused_until_confirmed_then_sent_once(
    google_fake: FakeGoogle, tmp_path: Path, mode: str
) -> None:
    server = create_server(google_fake.settings(tmp_path, COMPOSE, gmail_send=True))
    with anyio.fail_after(10):
        async with Client(server, mode=mode) as client:
            draft = await call(
                client,
                "create_draft",
                to=["Ann <ann@example.org>"],
                cc=["c@example.org"],
                subject="Hello",
                body="Hi Ann",
            )
            refused = await error_text(client, "send_draft", draft_id=draft["draft_id"])
            assert google_fake.sent == []
            sent = await call(client, "send_draft", draft_id=draft["draft_id"], confirm=True)
            again = await error_text(client, "send_draft", draft_id=draft["draft_id"], confirm=True)
    assert "To: Ann <ann@example.org>" in refused and "Cc: c@example.org" in refused and "Subject: Hello" in refused
    assert "confirm=true" in refused
    assert [m.id for m in google_fake.sent] == [sent["message_id"]]
    assert "not found" in again
    assert [c for c in google_fake.api_calls if c[1].endswith("/drafts/send")] == [
        ("POST", "/gmail/v1/users/me/drafts/send")
    ]


@pytest.mark.anyio
async def test_confirm_true_on_the_first_call_still_shows_the_draft_first(
    google_fake: FakeGoogle, tmp_path: Path
) -> None:
    server = create_server(google_fake.settings(tmp_path, COMPOSE, gmail_send=True))
    with anyio.fail_after(10):
        async with Client(server) as client:
            draft = await call(client, "create_draft", to=["ann@example.org"], subject="Hello", body="Hi")
            refused = await error_text(client, "send_draft", draft_id=draft["draft_id"], confirm=True)
    assert "To: ann@example.org" in refused
    assert google_fake.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("answer", "sent"), [("accept", 1), ("decline", 0), ("cancel", 0)])
async def test_send_asks_the_user_through_elicitation_and_the_model_cannot_skip_it(
    google_fake: FakeGoogle, tmp_path: Path, mode: str, answer: str, sent: int
) -> None:
    asked: list[str] = []

    async def user(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action=answer, content={"confirm": True} if answer == "accept" else None)

    server = create_server(google_fake.settings(tmp_path, COMPOSE, gmail_send=True))
    with anyio.fail_after(10):
        async with Client(server, mode=mode, elicitation_callback=user) as client:
            draft = await call(client, "create_draft", to=["ann@example.org"], subject="Hello", body="Hi Ann")
            result = await client.call_tool("send_draft", {"draft_id": draft["draft_id"], "confirm": True})
    assert len(asked) == 1 and "To: ann@example.org" in asked[0] and "Subject: Hello" in asked[0]
    assert result.is_error is (sent == 0)
    assert len(google_fake.sent) == sent


@pytest.mark.anyio
async def test_labels_change_by_name_and_unknown_names_are_explained(google_fake: FakeGoogle, tmp_path: Path) -> None:
    ids = mailbox(google_fake)
    alpha = google_fake.add_label("Projects/Alpha")
    server = create_server(google_fake.settings(tmp_path, {GMAIL_MODIFY}, gmail_modify=True))
    with anyio.fail_after(10):
        async with Client(server) as client:
            changed = await call(
                client,
                "modify_labels",
                message_ids=[ids["report"]],
                add_labels=["projects/alpha"],
                archive=True,
                mark_read=True,
            )
            unknown = await error_text(client, "modify_labels", message_ids=[ids["report"]], add_labels=["Nope"])
    assert changed["messages"] == [{"id": ids["report"], "labels": [alpha]}]
    assert "'Nope'" in unknown and "list_labels" in unknown


@pytest.mark.anyio
async def test_drafting_without_the_compose_scope_names_the_setting(google_fake: FakeGoogle, tmp_path: Path) -> None:
    server = create_server(google_fake.settings(tmp_path, READ, gmail_compose=True))
    with anyio.fail_after(10):
        async with Client(server) as client:
            text = await error_text(client, "create_draft", to=["a@example.org"], body="x")
    assert "gmail.compose" in text and "variet auth google" in text


@pytest.mark.anyio
async def test_logs_hold_no_tokens_and_no_mail_bodies(
    google_fake: FakeGoogle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = mailbox(google_fake)
    settings = google_fake.settings(tmp_path, COMPOSE, gmail_send=True)
    google_fake.expire_access_tokens()  # forces a refresh, so token traffic happens while logging
    caplog.set_level(logging.DEBUG)
    server = create_server(settings)
    with anyio.fail_after(10):
        async with Client(server) as client:
            await call(client, "get_message", message_id=ids["report"])
            draft = await call(client, "create_draft", to=["ann@example.org"], subject="S", body="Secret draft words")
            await error_text(client, "send_draft", draft_id=draft["draft_id"])
    secrets = [*google_fake.access, *google_fake.grants, "Numbers attached", "Secret draft words"]
    secrets += [base64.urlsafe_b64encode(b"Secret draft words").decode()[:16]]
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert len(google_fake.token_requests) == 1
    assert caplog.records, "nothing was logged at DEBUG: the check would be empty"
    assert not [s for s in secrets if s in logged]


@pytest.mark.anyio
async def test_the_server_runs_over_stdio(google_fake: FakeGoogle, tmp_path: Path) -> None:
    google_fake.add_message(mail("Ann <ann@example.org>", "Over stdio", "Hi"))
    settings = google_fake.settings(tmp_path, READ)
    config = tmp_path / "variet.toml"
    config.write_text("")
    env = {
        "VARIET_CONFIG": str(config),
        "VARIET_GOOGLE_API_ENDPOINT": settings.google.api_endpoint,
        "VARIET_GOOGLE_TOKEN_URI": settings.google.token_uri,
        "VARIET_GOOGLE_TOKEN_FILE": settings.google.token_file,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "variet.servers.gmail"], env=env)
    with anyio.fail_after(30):
        async with Client(params) as client:
            found = await call(client, "search_messages", query="subject:stdio")
    assert [m["subject"] for m in found["messages"]] == ["Over stdio"]
