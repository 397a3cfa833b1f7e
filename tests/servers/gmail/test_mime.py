"""Mail bodies: Gmail payload trees to text, HTML to text, clipping, and composing replies."""

from __future__ import annotations

import base64
import email
import email.policy
from typing import Any

import pytest

from variet.servers.gmail.mime import MailFormatError, clip, compose, html_to_text, read_body, split_addresses


def part(mime: str, text: str = "", *, filename: str = "", charset: str = "utf-8", **extra: Any) -> dict[str, Any]:
    data = base64.urlsafe_b64encode(text.encode(charset)).decode()
    headers = [{"name": "Content-Type", "value": f"{mime}; charset={charset}"}]
    body = {"size": len(text), "attachmentId": "a1"} if filename else {"size": len(text), "data": data}
    return {"mimeType": mime, "filename": filename, "headers": headers, "body": body, **extra}


def multipart(mime: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"mimeType": mime, "filename": "", "headers": [], "body": {"size": 0}, "parts": list(parts)}


def test_plain_text_wins_over_its_html_alternative_and_attachments_are_listed() -> None:
    payload = multipart(
        "multipart/mixed",
        multipart("multipart/alternative", part("text/plain", "plain words"), part("text/html", "<b>html</b>")),
        part("image/png", "x" * 42, filename="chart.png"),
    )
    body = read_body(payload)
    assert (body.text, body.format) == ("plain words", "text/plain")
    assert [(a.name, a.mime_type, a.size) for a in body.attachments] == [("chart.png", "image/png", 42)]


def test_html_only_mail_becomes_readable_text_without_scripts() -> None:
    payload = multipart(
        "multipart/related",
        part(
            "text/html",
            "<div>Hi&nbsp;there<br>line two</div><script>alert(1)</script><table><tr><td>a</td><td>b</td></tr></table>",
        ),
    )
    body = read_body(payload)
    assert body.format == "text/html"
    assert body.text == "Hi there\nline two\n\na b"


def test_a_declared_charset_is_honoured() -> None:
    assert read_body(part("text/plain", "Grüße", charset="iso-8859-1")).text == "Grüße"


def test_links_keep_their_address_but_not_javascript() -> None:
    assert html_to_text('<a href="https://x.example/p">site</a> <a href="javascript:evil()">run</a>') == (
        "site <https://x.example/p> run"
    )


def test_clipping_says_how_much_was_cut() -> None:
    assert clip("short", 10) == ("short", False)
    text, clipped = clip("a" * 25, 10)
    assert clipped and text.startswith("a" * 10 + "\n[clipped: showing the first 10 of 25 characters")


def test_a_composed_reply_carries_threading_headers() -> None:
    raw = compose(
        to=["Ann <ann@example.org>, bob@example.org"],
        cc=[],
        bcc=["me@example.org"],
        subject="Re: Plan",
        body="Sounds good.",
        in_reply_to="<m2@example.org>",
        references="<m1@example.org>",
    )
    message = email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=email.policy.default)
    assert message["To"] == "Ann <ann@example.org>, bob@example.org"
    assert message["Bcc"] == "me@example.org"
    assert message["In-Reply-To"] == "<m2@example.org>"
    assert message["References"] == "<m1@example.org> <m2@example.org>"
    assert message.get_content().strip() == "Sounds good."


def test_bad_addresses_and_missing_recipients_are_refused() -> None:
    with pytest.raises(MailFormatError, match="not an e-mail address"):
        split_addresses(["Ann"])
    with pytest.raises(MailFormatError, match="at least one recipient"):
        compose(to=[], cc=[], bcc=[], subject="x", body="y")
