"""Mail bodies both ways, pure: reading Gmail's MIME payload tree, and composing a raw message to send.

Reading prefers a `text/plain` part, falls back to HTML converted to text, lists attachments by name,
type and size, and clips long bodies with a note saying how much was left out.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

from pydantic import BaseModel

from variet.shared.errors import VarietError

__all__ = [
    "Attachment",
    "Body",
    "MailFormatError",
    "clip",
    "compose",
    "header",
    "html_to_text",
    "read_body",
    "split_addresses",
]


class MailFormatError(VarietError):
    """An address or other field of a message to compose is not usable."""


class Attachment(BaseModel):
    name: str
    mime_type: str
    size: int
    attachment_id: str | None = None


@dataclass
class Body:
    """The readable text of a message and what else it carries."""

    text: str = ""
    format: str = "none"
    """`text/plain`, `text/html` (converted to text) or `none`."""
    attachments: list[Attachment] = field(default_factory=list)


def header(payload: dict[str, Any], name: str) -> str:
    """The first header called `name` (case-insensitive), or ''."""
    wanted = name.lower()
    return next((h.get("value", "") for h in payload.get("headers", []) if h.get("name", "").lower() == wanted), "")


def read_body(payload: dict[str, Any]) -> Body:
    """Walk Gmail's payload tree: plain text if any, else HTML as text, plus the attachment list."""
    plain: list[str] = []
    html: list[str] = []
    body = Body()
    _walk(payload, plain, html, body.attachments)
    if plain:
        body.text, body.format = "\n\n".join(plain).strip(), "text/plain"
    elif html:
        body.text, body.format = "\n\n".join(html_to_text(h) for h in html).strip(), "text/html"
    return body


def _walk(part: dict[str, Any], plain: list[str], html: list[str], attachments: list[Attachment]) -> None:
    mime = part.get("mimeType", "").lower()
    data = part.get("body", {})
    disposition = header(part, "Content-Disposition").lower()
    if part.get("filename") or disposition.startswith("attachment"):
        attachments.append(
            Attachment(
                name=part.get("filename") or "(unnamed)",
                mime_type=mime,
                size=int(data.get("size", 0)),
                attachment_id=data.get("attachmentId"),
            )
        )
        return
    if mime == "multipart/alternative":
        # Alternatives carry the same content: take the plainest one the message has.
        children = part.get("parts", [])
        chosen = next((p for p in children if p.get("mimeType", "").lower() == "text/plain"), None)
        chosen = chosen or next((p for p in children if p.get("mimeType", "").lower() == "text/html"), None)
        for child in children:
            if child is chosen or child.get("mimeType", "").lower().startswith("multipart/"):
                _walk(child, plain, html, attachments)
        return
    if mime.startswith("multipart/"):
        for child in part.get("parts", []):
            _walk(child, plain, html, attachments)
        return
    if mime in ("text/plain", "text/html") and "data" in data:
        text = _decode(data["data"], _charset(header(part, "Content-Type")))
        (plain if mime == "text/plain" else html).append(text)


def _charset(content_type: str) -> str:
    match = re.search(r'charset="?([\w.:-]+)"?', content_type, re.IGNORECASE)
    return match.group(1) if match else "utf-8"


def _decode(data: str, charset: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return ""
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


class _TextFromHtml(HTMLParser):
    _BLOCK = frozenset(
        "address article aside blockquote div dl dt dd footer form h1 h2 h3 h4 h5 h6 header hr li ol p pre "
        "section table tr ul".split()
    )
    _SKIP = frozenset({"script", "style", "head", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in self._BLOCK:
            self.out.append("\n- " if tag == "li" else "\n")
        if tag == "a":
            self._links.append(dict(attrs).get("href"))
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK and tag != "li":
            self.out.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and href.startswith(("http://", "https://", "mailto:")):
                self.out.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text from an HTML mail body: blocks become lines, links keep their address."""
    parser = _TextFromHtml()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.out).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clip(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters with a note saying how much is missing; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    note = f"\n[clipped: showing the first {limit} of {len(text)} characters; open the mail in Gmail for the rest]"
    return text[:limit] + note, True


def split_addresses(values: list[str]) -> list[str]:
    """Addresses from entries that may each hold several (`a@x, B <b@y>`); refuses anything without an @."""
    out: list[str] = []
    for name, address in getaddresses(values):
        if "@" not in address or any(c.isspace() for c in address):
            raise MailFormatError(f"not an e-mail address: {address or name!r}")
        out.append(f"{name} <{address}>" if name else address)
    return out


def compose(
    *,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    subject: str,
    body: str,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> str:
    """A plain-text message as Gmail's base64url `raw` field (Gmail fills in From and Date)."""
    if not to and not cc and not bcc:
        raise MailFormatError("a draft needs at least one recipient (to, cc or bcc)")
    message = EmailMessage()
    for name, values in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if values:
            message[name] = ", ".join(split_addresses(values))
    message["Subject"] = subject
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = f"{references} {in_reply_to}".strip() if references else in_reply_to
    message.set_content(body)
    return base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")
