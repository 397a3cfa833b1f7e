"""A local stand-in for Google: the OAuth endpoints, Calendar v3 and Gmail v1, served over real HTTP.

`FakeGoogle` holds the state (grants and tokens, calendars and events, mailbox, drafts, labels) with
Google's semantics where the tools depend on them: scope checks on every call, time-range filtering and
zone conversion, page tokens, free/busy, MIME messages turned into Gmail's payload tree, drafts that
become sent mail. Tests inject faults (`fail`), revoke or expire tokens, and read what was sent.

`google_fake` (a pytest fixture, which tests/servers/conftest.py and tests/assistant/conftest.py import) gives
each test a fresh `FakeGoogle` served by one uvicorn on a loopback port for the session.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import itertools
import json
import re
import secrets
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from variet.shared.config import Settings
from variet.shared.secrets import write_private_file

__all__ = ["FakeGoogle", "google_fake", "serve"]

_AUTH = "https://www.googleapis.com/auth/"
CAL_READ = {_AUTH + "calendar.readonly", _AUTH + "calendar.events", _AUTH + "calendar"}
CAL_WRITE = {_AUTH + "calendar.events", _AUTH + "calendar"}
MAIL_READ = {_AUTH + "gmail.readonly", _AUTH + "gmail.modify"}
MAIL_DRAFT = {_AUTH + "gmail.compose", _AUTH + "gmail.modify"}
MAIL_MODIFY = {_AUTH + "gmail.modify"}

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
SYSTEM_LABELS = ["INBOX", "SENT", "DRAFT", "UNREAD", "STARRED", "IMPORTANT", "SPAM", "TRASH"]


def _error(code: int, message: str, reason: str, **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "errors": [{"message": message, "reason": reason}], **extra}}
    return JSONResponse(body, status_code=code)


@dataclass
class Grant:
    scopes: set[str]
    revoked: bool = False


@dataclass
class Access:
    scopes: set[str]
    valid: bool = True


@dataclass
class Fault:
    path: str
    status: int
    times: int
    reason: str
    headers: dict[str, str]


@dataclass
class Calendar:
    summary: str
    zone: str
    primary: bool = False
    events: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Stored:
    id: str
    thread_id: str
    raw: bytes
    labels: list[str]
    internal_ms: int


class FakeGoogle:
    """Google's state for one test. Times in events are RFC 3339 strings, as Google stores them."""

    client_id = "fake-client.apps.googleusercontent.com"
    client_secret = "fake-client-secret"

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, Access] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.api_calls: list[tuple[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.invitations: list[tuple[str, str, str]] = []
        """(event id, sendUpdates, attendee e-mail) for every update e-mail Google would have sent."""
        self.calendars: dict[str, Calendar] = {"primary": Calendar("me@example.org", "UTC", primary=True)}
        self.messages: dict[str, Stored] = {}
        self.drafts: dict[str, str] = {}
        self.sent: list[Stored] = []
        self.labels: dict[str, dict[str, str]] = {
            name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS
        }
        self.rotate_refresh_tokens = False
        """Answer each refresh with a new refresh token (and retire the old one), as Google sometimes does."""
        self.tamper_state = False
        """Send the browser back with a state the client did not send (a forged redirect)."""
        self._ids = itertools.count(1)
        self._clock = 1_767_225_600_000  # 2026-01-01T00:00:00Z, advances per stored message

    # --- set-up helpers for tests -------------------------------------------------------------

    def authorize(self, scopes: set[str] | list[str], *, with_access_token: bool = True) -> dict[str, Any]:
        """Grant `scopes`; the authorized-user JSON `variet auth google` would have saved."""
        refresh = f"1//fake-refresh-{secrets.token_hex(8)}"
        self.grants[refresh] = Grant(set(scopes))
        info: dict[str, Any] = {
            "refresh_token": refresh,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_uri": self.url + "token",
            "scopes": sorted(scopes),
        }
        if with_access_token:
            info["token"] = self._issue(set(scopes))
            info["expiry"] = (datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)).isoformat() + "Z"
        return info

    def settings(self, folder: Path, scopes: set[str] | list[str], **google: Any) -> Settings:
        """Settings pointing at this fake, with a private token file for `scopes` in `folder`."""
        token = folder / "google-token.json"
        write_private_file(token, json.dumps(self.authorize(scopes)))
        values = {"api_endpoint": self.url, "token_uri": self.url + "token", "token_file": str(token), **google}
        return Settings.model_validate({"google": values})

    def add_calendar(self, calendar_id: str, summary: str, zone: str = "UTC") -> None:
        self.calendars[calendar_id] = Calendar(summary, zone)

    def add_event(self, calendar_id: str = "primary", **event: Any) -> str:
        event_id = event.pop("id", None) or f"ev{next(self._ids)}"
        self.calendars[calendar_id].events[event_id] = {
            "id": event_id,
            "status": "confirmed",
            "etag": f'"{next(self._ids)}"',
            "updated": datetime.now(UTC).isoformat(),
            "htmlLink": f"https://calendar.example/event?eid={event_id}",
            **event,
        }
        return event_id

    def add_message(self, message: EmailMessage | bytes, *, labels: list[str] | None = None, thread: str = "") -> str:
        raw = message if isinstance(message, bytes) else message.as_bytes()
        return self._store(raw, labels if labels is not None else ["INBOX", "UNREAD"], thread).id

    def add_label(self, name: str) -> str:
        label_id = f"Label_{next(self._ids)}"
        self.labels[label_id] = {"id": label_id, "name": name, "type": "user"}
        return label_id

    def fail(self, path: str, status: int, *, times: int = 1, reason: str = "", retry_after: str | None = None) -> None:
        """The next `times` API calls whose path contains `path` answer `status`."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.append(Fault(path, status, times, reason, headers))

    def revoke_all(self) -> None:
        for grant in self.grants.values():
            grant.revoked = True
        self.expire_access_tokens()

    def expire_access_tokens(self) -> None:
        """Google-side expiry: every access token stops working while clients still think it is valid."""
        for access in self.access.values():
            access.valid = False

    # --- OAuth ---------------------------------------------------------------------------------

    def _issue(self, scopes: set[str]) -> str:
        token = f"ya29.fake-{secrets.token_hex(12)}"
        self.access[token] = Access(scopes)
        return token

    async def authorize_endpoint(self, request: Request) -> Response:
        """The consent screen, already agreed: redirect back with a code bound to the PKCE challenge."""
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE required"}, status_code=400)
        code = f"4/fake-code-{secrets.token_hex(6)}"
        self.codes[code] = {
            "scopes": set(q.get("scope", "").split()),
            "redirect_uri": q.get("redirect_uri"),
            "challenge": q["code_challenge"],
            "offline": q.get("access_type") == "offline",
        }
        state = "forged" if self.tamper_state else q.get("state", "")
        target = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": state})
        return RedirectResponse(target, status_code=302)

    async def token_endpoint(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):  # RFC 6749 client authentication, as requests-oauthlib sends it
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form |= {"client_id": urllib.parse.unquote(client_id), "client_secret": urllib.parse.unquote(secret)}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "authorization_code":
            return self._exchange_code(form)
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = self.grants.get(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            body = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return JSONResponse(body, status_code=400)
        wanted = set(form["scope"].split()) if form.get("scope") else grant.scopes
        if not wanted <= grant.scopes:
            body = {"error": "invalid_scope", "error_description": "Bad Request"}
            return JSONResponse(body, status_code=400)
        body = {
            "access_token": self._issue(wanted),
            "expires_in": 3599,
            "scope": " ".join(sorted(wanted)),
            "token_type": "Bearer",
        }
        if self.rotate_refresh_tokens:
            grant.revoked = True
            body["refresh_token"] = f"1//fake-refresh-{secrets.token_hex(8)}"
            self.grants[body["refresh_token"]] = Grant(set(grant.scopes))
        return JSONResponse(body)

    def _exchange_code(self, form: dict[str, str]) -> Response:
        code = self.codes.pop(form.get("code", ""), None)
        if code is None or code["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if digest != code["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "code_verifier"}, status_code=400)
        refresh = f"1//fake-refresh-{secrets.token_hex(8)}"
        self.grants[refresh] = Grant(code["scopes"])
        body = {
            "access_token": self._issue(code["scopes"]),
            "expires_in": 3599,
            "scope": " ".join(sorted(code["scopes"])),
            "token_type": "Bearer",
        }
        if code["offline"]:
            body["refresh_token"] = refresh
        return JSONResponse(body)

    def _check(self, request: Request, allowed: set[str]) -> Response | None:
        """401 without a live token, 403 without a scope in `allowed`, or an injected fault."""
        self.api_calls.append((request.method, request.url.path))
        auth = request.headers.get("authorization", "")
        access = self.access.get(auth.removeprefix("Bearer "))
        if access is None or not access.valid:
            response = _error(401, "Request had invalid authentication credentials.", "authError")
            response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            return response
        if not access.scopes & allowed:
            return _error(
                403,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
                status="PERMISSION_DENIED",
                details=[
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
                ],
            )
        for fault in self.faults:
            if fault.times > 0 and fault.path in request.url.path:
                fault.times -= 1
                reason = fault.reason or ("rateLimitExceeded" if fault.status == 429 else "backendError")
                response = _error(fault.status, f"injected {fault.status}", reason)
                response.headers.update(fault.headers)
                return response
        return None

    # --- Calendar v3 ---------------------------------------------------------------------------

    def _calendar(self, calendar_id: str) -> Calendar | None:
        if calendar_id == "primary":
            return self.calendars["primary"]
        cal = self.calendars.get(calendar_id)
        if cal is None and calendar_id == self.calendars["primary"].summary:
            return self.calendars["primary"]
        return cal

    async def calendar_list(self, request: Request) -> Response:
        if denied := self._check(request, CAL_READ):
            return denied
        items = [
            {
                "id": cid if cid != "primary" else cal.summary,
                "summary": cal.summary,
                "timeZone": cal.zone,
                "primary": cal.primary,
                "accessRole": "owner",
            }
            for cid, cal in self.calendars.items()
        ]
        return JSONResponse(_page(items, request, "items", default_size=100))

    async def calendar_get(self, request: Request) -> Response:
        if denied := self._check(request, CAL_READ):
            return denied
        cal = self._calendar(request.path_params["cid"])
        if cal is None:
            return _error(404, "Not Found", "notFound")
        return JSONResponse({"id": request.path_params["cid"], "summary": cal.summary, "timeZone": cal.zone})

    async def events(self, request: Request) -> Response:
        write = request.method == "POST"
        if denied := self._check(request, CAL_WRITE if write else CAL_READ):
            return denied
        cal = self._calendar(request.path_params["cid"])
        if cal is None:
            return _error(404, "Not Found", "notFound")
        if write:
            body = await request.json()
            key = next(k for k, c in self.calendars.items() if c is cal)
            event_id = self.add_event(key, **body)
            self._notify(event_id, cal.events[event_id], request)
            return JSONResponse(_shown(cal.events[event_id], cal.zone, None))
        q = request.query_params
        lo, hi = q.get("timeMin"), q.get("timeMax")
        zone = q.get("timeZone") or cal.zone
        text = (q.get("q") or "").lower()
        found = []
        for event in cal.events.values():
            if event.get("status") == "cancelled":
                continue
            start, end = _span(event, cal.zone)
            if lo and end <= datetime.fromisoformat(lo):
                continue
            if hi and start >= datetime.fromisoformat(hi):
                continue
            haystack = " ".join(str(event.get(k, "")) for k in ("summary", "description", "location")).lower()
            if text and text not in haystack:
                continue
            found.append((start, event))
        if q.get("orderBy") == "startTime":
            found.sort(key=lambda pair: pair[0])
        items = [_shown(event, cal.zone, zone) for _, event in found]
        page = _page(items, request, "items", default_size=250)
        page.update({"summary": cal.summary, "timeZone": cal.zone})
        return JSONResponse(page)

    async def event(self, request: Request) -> Response:
        write = request.method in ("PATCH", "DELETE", "PUT")
        if denied := self._check(request, CAL_WRITE if write else CAL_READ):
            return denied
        cal = self._calendar(request.path_params["cid"])
        event = cal.events.get(request.path_params["eid"]) if cal else None
        if cal is None or event is None:
            return _error(404, "Not Found", "notFound")
        if event.get("status") == "cancelled":
            return _error(410, "Resource has been deleted", "deleted")
        if request.method == "GET":
            return JSONResponse(_shown(event, cal.zone, request.query_params.get("timeZone")))
        self._notify(event["id"], event, request)
        if request.method == "DELETE":
            event["status"] = "cancelled"
            return Response(status_code=204)
        event.update(await request.json())
        event["etag"] = f'"{next(self._ids)}"'
        event["updated"] = datetime.now(UTC).isoformat()
        return JSONResponse(_shown(event, cal.zone, None))

    def _notify(self, event_id: str, event: dict[str, Any], request: Request) -> None:
        mode = request.query_params.get("sendUpdates", "false")
        if mode in ("all", "externalOnly"):
            for person in event.get("attendees", []):
                self.invitations.append((event_id, mode, person["email"]))

    async def freebusy(self, request: Request) -> Response:
        if denied := self._check(request, CAL_READ):
            return denied
        body = await request.json()
        lo, hi = datetime.fromisoformat(body["timeMin"]), datetime.fromisoformat(body["timeMax"])
        calendars: dict[str, Any] = {}
        for item in body.get("items", []):
            cal = self._calendar(item["id"])
            if cal is None:
                calendars[item["id"]] = {"busy": [], "errors": [{"domain": "global", "reason": "notFound"}]}
                continue
            busy = []
            for event in cal.events.values():
                if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
                    continue
                start, end = _span(event, cal.zone)
                if end > lo and start < hi:
                    busy.append((max(start, lo), min(end, hi)))
            calendars[item["id"]] = {"busy": [{"start": _utc(a), "end": _utc(b)} for a, b in sorted(busy)]}
        return JSONResponse(
            {
                "kind": "calendar#freeBusy",
                "timeMin": body["timeMin"],
                "timeMax": body["timeMax"],
                "calendars": calendars,
            }
        )

    # --- Gmail v1 ------------------------------------------------------------------------------

    def _store(self, raw: bytes, labels: list[str], thread: str = "") -> Stored:
        number = next(self._ids)
        self._clock += 60_000
        message_id = f"18c{number:013x}"
        stored = Stored(message_id, thread or message_id, raw, labels, self._clock)
        self.messages[message_id] = stored
        return stored

    def _gmail_message(self, stored: Stored, fmt: str, headers: list[str] | None = None) -> dict[str, Any]:
        parsed = email.message_from_bytes(stored.raw, policy=email.policy.default)
        out: dict[str, Any] = {
            "id": stored.id,
            "threadId": stored.thread_id,
            "labelIds": list(stored.labels),
            "snippet": _snippet(parsed),
            "sizeEstimate": len(stored.raw),
            "internalDate": str(stored.internal_ms),
            "historyId": str(stored.internal_ms // 1000),
        }
        if fmt == "raw":
            out["raw"] = base64.urlsafe_b64encode(stored.raw).decode()
        elif fmt == "metadata":
            wanted = {h.lower() for h in headers or []}
            out["payload"] = {
                "mimeType": parsed.get_content_type(),
                "headers": [
                    {"name": k, "value": str(v)} for k, v in parsed.items() if not wanted or k.lower() in wanted
                ],
            }
        elif fmt == "full":
            out["payload"] = _payload(parsed, "", stored.id)
        return out

    async def messages_list(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_READ):
            return denied
        q = request.query_params
        matches = [m for m in self.messages.values() if "DRAFT" not in m.labels and _matches(m, q.get("q", ""), self)]
        matches.sort(key=lambda m: m.internal_ms, reverse=True)
        items = [{"id": m.id, "threadId": m.thread_id} for m in matches]
        page = _page(items, request, "messages", default_size=100)
        page["resultSizeEstimate"] = len(items)
        if not page["messages"]:
            del page["messages"]
        return JSONResponse(page)

    async def message_get(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_READ):
            return denied
        stored = self.messages.get(request.path_params["id"])
        if stored is None:
            return _error(404, "Requested entity was not found.", "notFound")
        q = request.query_params
        return JSONResponse(self._gmail_message(stored, q.get("format", "full"), q.getlist("metadataHeaders")))

    async def message_modify(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_MODIFY):
            return denied
        stored = self.messages.get(request.path_params["id"])
        if stored is None:
            return _error(404, "Requested entity was not found.", "notFound")
        body = await request.json()
        for label in body.get("addLabelIds", []) + body.get("removeLabelIds", []):
            if label not in self.labels:
                return _error(400, f"Invalid label: {label}", "invalidArgument")
        stored.labels = [label for label in stored.labels if label not in body.get("removeLabelIds", [])]
        stored.labels += [label for label in body.get("addLabelIds", []) if label not in stored.labels]
        return JSONResponse({"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.labels})

    async def thread_get(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_READ):
            return denied
        thread_id = request.path_params["id"]
        members = sorted((m for m in self.messages.values() if m.thread_id == thread_id), key=lambda m: m.internal_ms)
        if not members:
            return _error(404, "Requested entity was not found.", "notFound")
        fmt = request.query_params.get("format", "full")
        return JSONResponse({"id": thread_id, "messages": [self._gmail_message(m, fmt) for m in members]})

    async def labels_list(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_READ):
            return denied
        return JSONResponse({"labels": list(self.labels.values())})

    async def drafts_create(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_DRAFT):
            return denied
        message = (await request.json())["message"]
        raw = base64.urlsafe_b64decode(message["raw"] + "=" * (-len(message["raw"]) % 4))
        thread = message.get("threadId", "")
        if thread and not any(m.thread_id == thread for m in self.messages.values()):
            return _error(404, "Requested entity was not found.", "notFound")
        stored = self._store(raw, ["DRAFT"], thread)
        draft_id = f"r-{next(self._ids)}"
        self.drafts[draft_id] = stored.id
        return JSONResponse(
            {"id": draft_id, "message": {"id": stored.id, "threadId": stored.thread_id, "labelIds": ["DRAFT"]}}
        )

    async def draft_get(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_DRAFT | MAIL_READ):
            return denied
        message_id = self.drafts.get(request.path_params["id"])
        if message_id is None:
            return _error(404, "Requested entity was not found.", "notFound")
        fmt = request.query_params.get("format", "full")
        return JSONResponse(
            {"id": request.path_params["id"], "message": self._gmail_message(self.messages[message_id], fmt)}
        )

    async def drafts_send(self, request: Request) -> Response:
        if denied := self._check(request, MAIL_DRAFT):
            return denied
        draft_id = (await request.json()).get("id", "")
        message_id = self.drafts.pop(draft_id, None)
        if message_id is None:
            return _error(404, "Requested entity was not found.", "notFound")
        stored = self.messages[message_id]
        stored.labels = ["SENT"]
        self.sent.append(stored)
        return JSONResponse({"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.labels})

    # --- app -----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        cal, mail = "/calendar/v3", "/gmail/v1/users/me"
        return [
            Route("/token", self.token_endpoint, methods=["POST"]),
            Route("/o/oauth2/auth", self.authorize_endpoint),
            Route(f"{cal}/users/me/calendarList", self.calendar_list),
            Route(f"{cal}/calendars/{{cid}}", self.calendar_get),
            Route(f"{cal}/calendars/{{cid}}/events", self.events, methods=["GET", "POST"]),
            Route(f"{cal}/calendars/{{cid}}/events/{{eid}}", self.event, methods=["GET", "PATCH", "PUT", "DELETE"]),
            Route(f"{cal}/freeBusy", self.freebusy, methods=["POST"]),
            Route(f"{mail}/messages", self.messages_list),
            Route(f"{mail}/messages/{{id}}", self.message_get),
            Route(f"{mail}/messages/{{id}}/modify", self.message_modify, methods=["POST"]),
            Route(f"{mail}/threads/{{id}}", self.thread_get),
            Route(f"{mail}/labels", self.labels_list),
            Route(f"{mail}/drafts", self.drafts_create, methods=["POST"]),
            Route(f"{mail}/drafts/send", self.drafts_send, methods=["POST"]),
            Route(f"{mail}/drafts/{{id}}", self.draft_get),
        ]


def _page(items: list[dict[str, Any]], request: Request, key: str, *, default_size: int) -> dict[str, Any]:
    """Google-style paging: an opaque `pageToken` and `nextPageToken` while items remain."""
    q = request.query_params
    size = int(q.get("maxResults", default_size))
    start = int(base64.urlsafe_b64decode(q["pageToken"]).decode().removeprefix("offset:")) if q.get("pageToken") else 0
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
    return out


def _span(event: dict[str, Any], zone: str) -> tuple[datetime, datetime]:
    """An event's [start, end) as instants; all-day dates are midnights in the calendar's zone."""

    def instant(value: dict[str, Any]) -> datetime:
        if "date" in value:
            return datetime.combine(date.fromisoformat(value["date"]), time(), ZoneInfo(zone))
        return datetime.fromisoformat(value["dateTime"])

    return instant(event["start"]), instant(event["end"])


def _shown(event: dict[str, Any], calendar_zone: str, zone: str | None) -> dict[str, Any]:
    """The event as the API returns it: timed starts and ends expressed in `zone` (the request's)."""
    out = dict(event)
    target = ZoneInfo(zone or calendar_zone)
    for key in ("start", "end"):
        value = dict(event[key])
        if "dateTime" in value:
            value["dateTime"] = datetime.fromisoformat(value["dateTime"]).astimezone(target).isoformat()
            value.setdefault("timeZone", target.key)
        out[key] = value
    return out


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _payload(part: Message, part_id: str, message_id: str) -> dict[str, Any]:
    """A MIME part as Gmail's payload: headers, body size and base64url data (or attachmentId), parts."""
    out: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": [{"name": k, "value": str(v)} for k, v in part.items()],
    }
    if part.is_multipart():
        out["body"] = {"size": 0}
        children = part.get_payload()
        assert isinstance(children, list)
        prefix = f"{part_id}." if part_id else ""
        out["parts"] = [_payload(child, f"{prefix}{i}", message_id) for i, child in enumerate(children)]
        return out
    data = part.get_payload(decode=True)
    data = data if isinstance(data, bytes) else b""
    if out["filename"]:
        out["body"] = {"size": len(data), "attachmentId": f"att-{message_id}-{part_id}"}
    else:
        out["body"] = {"size": len(data), "data": base64.urlsafe_b64encode(data).decode()}
    return out


def _text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html") and not part.get_filename():
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return data.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


def _snippet(message: Message) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _text_of(message)))[:100].strip()


def _matches(stored: Stored, query: str, fake: FakeGoogle) -> bool:
    """A subset of Gmail search: from:, to:, subject:, label:, in:, is:unread/read, has:attachment, words."""
    parsed = email.message_from_bytes(stored.raw, policy=email.policy.default)
    for token in re.findall(r'(?:\w+:)?"[^"]*"|\S+', query):
        key, _, value = token.partition(":") if re.match(r"^\w+:", token) else ("", "", token)
        value = value.strip('"').lower()
        if key in ("from", "to", "subject"):
            ok = value in str(parsed.get(key, "")).lower()
        elif key in ("label", "in"):
            names = {stored_label.lower() for stored_label in stored.labels}
            names |= {fake.labels[i]["name"].lower() for i in stored.labels if i in fake.labels}
            ok = value in names
        elif key == "is":
            ok = ("UNREAD" in stored.labels) == (value == "unread") if value in ("read", "unread") else False
        elif key == "has":
            ok = value == "attachment" and any(p.get_filename() for p in parsed.walk())
        else:
            haystack = f"{parsed.get('subject', '')} {parsed.get('from', '')} {_text_of(parsed)}".lower()
            ok = value in haystack
        if not ok:
            return False
    return True


class _Current:
    """The ASGI app the session's server runs: it forwards to the current test's `FakeGoogle`."""

    def __init__(self) -> None:
        self.fake = FakeGoogle()
        self._apps: dict[int, Starlette] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fake = self.fake
        app = self._apps.get(id(fake))
        if app is None:
            self._apps = {id(fake): Starlette(routes=fake.routes())}
            app = self._apps[id(fake)]
        await app(scope, receive, send)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free loopback port; yields its root URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    # The socket listens before uvicorn starts, so clients can connect at once (the backlog holds them).
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def _google_server() -> Iterator[tuple[_Current, str]]:
    current = _Current()
    with serve(current) as url:
        yield current, url


@pytest.fixture
def google_fake(_google_server: tuple[_Current, str]) -> FakeGoogle:
    """A fresh fake Google for this test, already served over HTTP at `.url`."""
    current, url = _google_server
    current.fake = FakeGoogle(url)
    return current.fake
