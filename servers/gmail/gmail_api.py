"""Gmail v1, as the mail tools need it. No MCP here: plain async methods and result models.

Everything a message says (sender names, subject, body, file names) is third-party text: results carry
`UNTRUSTED_NOTICE` and bodies are fenced. Sending is not this class's decision: the server only offers it
with `[google] gmail_send = true` and after the user confirms.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import anyio
from pydantic import BaseModel, Field

from variet.servers.gmail.mime import Attachment, clip, compose, header, read_body
from variet.servers.google import GMAIL_COMPOSE, GMAIL_MODIFY, GoogleApi
from variet.servers.kit.untrusted import UNTRUSTED_NOTICE, fence
from variet.shared.errors import VarietError

__all__ = [
    "Draft",
    "GmailApi",
    "Label",
    "LabelChange",
    "LabelList",
    "Message",
    "MessageResult",
    "MessageSummary",
    "SearchResult",
    "SentMessage",
    "ThreadResult",
    "UnknownLabel",
]

_SUMMARY_HEADERS = ["From", "To", "Subject", "Date"]
_REPLY_HEADERS = ["From", "Reply-To", "Subject", "Message-ID", "References"]
_PARALLEL_GETS = 5
_MIN_THREAD_MESSAGE_CHARS = 1_000


class UnknownLabel(VarietError):
    """A label name that the mailbox does not have."""


class MessageSummary(BaseModel):
    id: str
    thread_id: str
    sender: str = Field(default="", description="From header.")
    to: str = ""
    subject: str = ""
    date: str = ""
    snippet: str = ""
    labels: list[str] = Field(default_factory=list)


class SearchResult(BaseModel):
    notice: str = UNTRUSTED_NOTICE
    messages: list[MessageSummary]
    next_page_token: str | None = Field(default=None, description="Pass as page_token for more results.")
    result_size_estimate: int | None = None


class Message(BaseModel):
    id: str
    thread_id: str
    sender: str = ""
    to: str = ""
    cc: str = ""
    subject: str = ""
    date: str = ""
    received: str = Field(default="", description="When Gmail received it (ISO, UTC).")
    labels: list[str] = Field(default_factory=list)
    body: str = Field(description="Body text, fenced as untrusted.")
    body_format: str = Field(description="text/plain, text/html (converted to text) or none.")
    clipped: bool = False
    attachments: list[Attachment] = Field(default_factory=list)


class MessageResult(BaseModel):
    notice: str = UNTRUSTED_NOTICE
    message: Message


class ThreadResult(BaseModel):
    notice: str = UNTRUSTED_NOTICE
    thread_id: str
    messages: list[Message]


class Label(BaseModel):
    id: str
    name: str
    type: str = "user"


class LabelList(BaseModel):
    labels: list[Label]


class Draft(BaseModel):
    draft_id: str
    message_id: str
    thread_id: str | None = None
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""


class SentMessage(BaseModel):
    sent: bool = True
    message_id: str
    thread_id: str | None = None
    labels: list[str] = Field(default_factory=list)


class LabelChange(BaseModel):
    id: str
    labels: list[str]


class GmailApi:
    """Gmail operations over one `GoogleApi` (service `gmail`), for the signed-in user (`me`)."""

    def __init__(self, api: GoogleApi) -> None:
        self._api = api
        self._max_chars = api.settings.google.body_max_chars

    async def aclose(self) -> None:
        """Nothing to close: each Google call opens and closes its own connection."""

    async def search(self, query: str, max_results: int, page_token: str | None) -> SearchResult:
        listing = await self._api.call(
            lambda c: c.users().messages().list(userId="me", q=query, maxResults=max_results, pageToken=page_token)
        )
        ids = [item["id"] for item in listing.get("messages", [])]
        found: dict[str, MessageSummary] = {}
        limiter = anyio.CapacityLimiter(_PARALLEL_GETS)

        async def fetch(message_id: str) -> None:
            async with limiter:
                raw = await self._api.call(
                    lambda c: (
                        c.users()
                        .messages()
                        .get(userId="me", id=message_id, format="metadata", metadataHeaders=_SUMMARY_HEADERS)
                    )
                )
            payload = raw.get("payload", {})
            found[message_id] = MessageSummary(
                id=raw["id"],
                thread_id=raw.get("threadId", ""),
                sender=header(payload, "From"),
                to=header(payload, "To"),
                subject=header(payload, "Subject"),
                date=header(payload, "Date"),
                snippet=raw.get("snippet", ""),
                labels=raw.get("labelIds", []),
            )

        async with anyio.create_task_group() as tg:
            for message_id in ids:
                tg.start_soon(fetch, message_id)
        return SearchResult(
            messages=[found[i] for i in ids],
            next_page_token=listing.get("nextPageToken"),
            result_size_estimate=listing.get("resultSizeEstimate"),
        )

    async def get_message(self, message_id: str) -> MessageResult:
        raw = await self._api.call(lambda c: c.users().messages().get(userId="me", id=message_id, format="full"))
        return MessageResult(message=self._message(raw, self._max_chars))

    async def get_thread(self, thread_id: str) -> ThreadResult:
        raw = await self._api.call(lambda c: c.users().threads().get(userId="me", id=thread_id, format="full"))
        messages = raw.get("messages", [])
        # One budget for the whole thread, so a long thread cannot flood the context.
        share = max(_MIN_THREAD_MESSAGE_CHARS, self._max_chars // max(1, len(messages)))
        return ThreadResult(thread_id=raw.get("id", thread_id), messages=[self._message(m, share) for m in messages])

    async def labels(self) -> LabelList:
        raw = await self._api.call(lambda c: c.users().labels().list(userId="me"))
        labels = [
            Label(id=item["id"], name=item.get("name", item["id"]), type=item.get("type", "user"))
            for item in raw.get("labels", [])
        ]
        return LabelList(labels=sorted(labels, key=lambda label: (label.type != "system", label.name.lower())))

    async def create_draft(
        self,
        *,
        to: list[str],
        cc: list[str],
        bcc: list[str],
        subject: str | None,
        body: str,
        reply_to_message_id: str | None,
    ) -> Draft:
        thread_id: str | None = None
        in_reply_to = references = None
        if reply_to_message_id:
            original = await self._api.call(
                lambda c: (
                    c.users()
                    .messages()
                    .get(userId="me", id=reply_to_message_id, format="metadata", metadataHeaders=_REPLY_HEADERS)
                )
            )
            payload = original.get("payload", {})
            thread_id = original.get("threadId")
            in_reply_to = header(payload, "Message-ID") or None
            references = header(payload, "References") or None
            if not to and not cc and not bcc:
                to = [header(payload, "Reply-To") or header(payload, "From")]
            if subject is None:
                previous = header(payload, "Subject")
                subject = previous if previous.lower().startswith("re:") else f"Re: {previous}".strip()
        raw = compose(
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject or "",
            body=body,
            in_reply_to=in_reply_to,
            references=references,
        )
        message: dict[str, Any] = {"raw": raw}
        if thread_id:
            message["threadId"] = thread_id
        created = await self._api.call(
            lambda c: c.users().drafts().create(userId="me", body={"message": message}), needs=GMAIL_COMPOSE
        )
        return await self._draft(created["id"])

    async def _draft(self, draft_id: str) -> Draft:
        raw = await self._api.call(lambda c: c.users().drafts().get(userId="me", id=draft_id, format="full"))
        message = raw.get("message", {})
        payload = message.get("payload", {})
        return Draft(
            draft_id=raw["id"],
            message_id=message.get("id", ""),
            thread_id=message.get("threadId"),
            to=header(payload, "To"),
            cc=header(payload, "Cc"),
            bcc=header(payload, "Bcc"),
            subject=header(payload, "Subject"),
        )

    async def describe_draft(self, draft_id: str) -> tuple[str, str]:
        """What sending would send, for the user to confirm, and a fingerprint of this draft version."""
        raw = await self._api.call(lambda c: c.users().drafts().get(userId="me", id=draft_id, format="full"))
        message = raw.get("message", {})
        payload = message.get("payload", {})
        body = read_body(payload)
        lines = [f"Send this e-mail (draft {draft_id})?"]
        for name in ("To", "Cc", "Bcc"):
            if value := header(payload, name):
                lines.append(f"{name}: {value}")
        lines.append(f"Subject: {header(payload, 'Subject') or '(no subject)'}")
        if body.attachments:
            lines.append("Attachments: " + ", ".join(a.name for a in body.attachments))
        # The body stays out: the SDK logs refusals, and logs must not hold mail text.
        lines.append(f"Text: {len(body.text)} characters (see the draft in Gmail)")
        text = "\n".join(lines)
        version = f"{draft_id}\n{message.get('id', '')}\n{text}\n{body.text}"
        return text, hashlib.sha256(version.encode()).hexdigest()

    async def send_draft(self, draft_id: str) -> SentMessage:
        sent = await self._api.call(
            lambda c: c.users().drafts().send(userId="me", body={"id": draft_id}), needs=GMAIL_COMPOSE
        )
        return SentMessage(message_id=sent["id"], thread_id=sent.get("threadId"), labels=sent.get("labelIds", []))

    async def modify_labels(
        self,
        *,
        message_ids: list[str],
        add: list[str],
        remove: list[str],
        archive: bool,
        mark_read: bool | None,
    ) -> list[LabelChange]:
        add_ids, remove_ids = await self._label_ids(add), await self._label_ids(remove)
        if archive:
            remove_ids.append("INBOX")
        if mark_read is True:
            remove_ids.append("UNREAD")
        elif mark_read is False:
            add_ids.append("UNREAD")
        if not add_ids and not remove_ids:
            raise UnknownLabel("nothing to change: give add_labels, remove_labels, archive or mark_read")
        body = {"addLabelIds": sorted(set(add_ids)), "removeLabelIds": sorted(set(remove_ids))}
        changed = []
        for message_id in message_ids:
            raw = await self._api.call(
                lambda c: c.users().messages().modify(userId="me", id=message_id, body=body),  # noqa: B023
                needs=GMAIL_MODIFY,
            )
            changed.append(LabelChange(id=raw["id"], labels=raw.get("labelIds", [])))
        return changed

    async def _label_ids(self, names: list[str]) -> list[str]:
        if not names:
            return []
        known = (await self.labels()).labels
        by_key = {label.id.lower(): label.id for label in known} | {label.name.lower(): label.id for label in known}
        missing = [name for name in names if name.lower() not in by_key]
        if missing:
            raise UnknownLabel(
                f"no label called {', '.join(repr(m) for m in missing)}: call list_labels for the names there are"
            )
        return [by_key[name.lower()] for name in names]

    @staticmethod
    def _message(raw: dict[str, Any], limit: int) -> Message:
        payload = raw.get("payload", {})
        body = read_body(payload)
        text, clipped = clip(body.text, limit)
        received = ""
        if raw.get("internalDate"):
            received = datetime.fromtimestamp(int(raw["internalDate"]) / 1000, UTC).isoformat()
        return Message(
            id=raw["id"],
            thread_id=raw.get("threadId", ""),
            sender=header(payload, "From"),
            to=header(payload, "To"),
            cc=header(payload, "Cc"),
            subject=header(payload, "Subject"),
            date=header(payload, "Date"),
            received=received,
            labels=raw.get("labelIds", []),
            body=fence(text, f"e-mail {raw['id']}") if text else "",
            body_format=body.format,
            clipped=clipped,
            attachments=body.attachments,
        )
