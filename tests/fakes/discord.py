"""A local Discord: the REST routes and gateway events a bot uses, over real HTTP and a real WebSocket.

`FakeDiscord` holds the state (users, one server with text channels and threads, DMs, messages,
application commands, interactions) and serves it as a Starlette app: REST under `/api/v10` and the
gateway at `/gateway` (HELLO, heartbeats and their ACKs, IDENTIFY checked for the token and the privileged
Message Content intent, READY, GUILD_CREATE, then dispatches). discord.py is pointed at it by its own
base-URL settings, so the real library speaks the real protocol.

Tests act as people (`say`, `click`, `slash`, `autocomplete`, `create_thread`), observe what the bot did
(`messages`, `calls`, `wait_for`), and inject faults (`rate_limit_edits`). `serve_fake_discord()` serves a
fake on a free loopback port, inside the test's event loop, for the duration of a block.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["BOT_TOKEN", "Call", "FakeDiscord", "serve_fake_discord"]

BOT_TOKEN = "fake-bot-token.not-a-secret.0123456789"
MESSAGE_CONTENT_INTENT = 1 << 15
_EPOCH_MS = 1_420_070_400_000
_EPHEMERAL = 1 << 6
_HEARTBEAT_MS = 41_250


@dataclass(frozen=True)
class Call:
    """One REST request the bot made, with when it arrived (monotonic seconds)."""

    method: str
    path: str
    body: Any
    at: float
    status: int
    message_id: str | None = None
    """The message a successful post or edit created or changed."""


@dataclass
class Interaction:
    """An interaction a test started, and what the bot answered."""

    id: int
    token: str
    payload: dict[str, Any]
    responses: list[dict[str, Any]] = field(default_factory=list)
    """Every callback body, in order."""
    original: dict[str, Any] | None = None
    """The original response message (after its edits)."""
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return bool(self.responses)

    def text(self) -> str:
        """The visible answer: the original response's content, else the first callback's."""
        if self.original is not None:
            return str(self.original.get("content") or "")
        for response in self.responses:
            if (data := response.get("data")) and data.get("content"):
                return str(data["content"])
        return ""


class FakeDiscord:
    """Discord's state and API for one test."""

    def __init__(self, *, token: str = BOT_TOKEN, privileged_intents: bool = True) -> None:
        self.token = token
        self.privileged_intents = privileged_intents
        """Whether the application may use Message Content (else IDENTIFY with it closes with 4014)."""
        self.root = ""
        self._ids = itertools.count(1)
        self.application_id = self.snowflake()
        self.bot = self._user("Variet", bot=True, user_id=self.application_id)
        self.users: dict[int, dict[str, Any]] = {self.bot["id"]: self.bot}
        self.guild_id = self.snowflake()
        self.channels: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, list[dict[str, Any]]] = {}
        """channel id -> its messages, oldest first (interaction responses too; ephemeral ones included)."""
        self.commands: list[dict[str, Any]] = []
        self.interactions: dict[int, Interaction] = {}
        self.calls: list[Call] = []
        self.identified: list[dict[str, Any]] = []
        """Every IDENTIFY payload received (the token replaced by whether it matched)."""
        self.closed_with: list[int] = []
        """Close codes the gateway sent."""
        self._edit_faults: list[float] = []
        self._sessions: list[_Session] = []
        self.sessions_ready = 0
        """Gateway sessions that got READY and their servers, so far (a restarted bot makes a new one)."""
        self._changed = asyncio.Condition()
        self.general = self.add_channel("general")

    # -- ids and payloads -------------------------------------------------------------------------

    def snowflake(self) -> int:
        """A fresh id whose timestamp bits are now, as Discord's are."""
        return ((int(time.time() * 1000) - _EPOCH_MS) << 22) | (next(self._ids) & 0xFFF)

    def _user(self, name: str, *, bot: bool = False, user_id: int | None = None) -> dict[str, Any]:
        return {"id": str(user_id or self.snowflake()), "username": name, "global_name": name,
                "discriminator": "0", "avatar": None, "bot": bot, "public_flags": 0}

    def add_user(self, name: str) -> dict[str, Any]:
        user = self._user(name)
        self.users[int(user["id"])] = user
        return user

    def add_channel(self, name: str) -> int:
        channel_id = self.snowflake()
        self.channels[channel_id] = {"id": str(channel_id), "type": 0, "guild_id": str(self.guild_id), "name": name,
                                     "position": len(self.channels), "permission_overwrites": [], "nsfw": False,
                                     "parent_id": None, "topic": None, "last_message_id": None,
                                     "rate_limit_per_user": 0}
        self.messages[channel_id] = []
        return channel_id

    def dm(self, user: dict[str, Any]) -> int:
        """The DM channel between `user` and the bot."""
        for channel_id, channel in self.channels.items():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == user["id"]:
                return channel_id
        channel_id = self.snowflake()
        self.channels[channel_id] = {"id": str(channel_id), "type": 1, "recipients": [user], "last_message_id": None}
        self.messages[channel_id] = []
        return channel_id

    def _member(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"user": user, "nick": None, "roles": [], "joined_at": _now(), "deaf": False, "mute": False,
                "flags": 0, "pending": False, "permissions": str((1 << 41) - 1)}

    def _guild(self) -> dict[str, Any]:
        text = [c for c in self.channels.values() if c.get("guild_id") and c["type"] == 0]
        threads = [c for c in self.channels.values() if c["type"] == 11]
        everyone = {"id": str(self.guild_id), "name": "@everyone", "permissions": str((1 << 41) - 1), "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        return {"id": str(self.guild_id), "name": "Home", "icon": None, "owner_id": self.bot["id"],
                "roles": [everyone], "emojis": [], "stickers": [], "features": [], "member_count": len(self.users),
                "members": [self._member(self.bot)], "channels": text, "threads": threads, "voice_states": [],
                "presences": [], "large": False, "unavailable": False, "joined_at": _now(), "mfa_level": 0,
                "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
                "afk_timeout": 300, "system_channel_flags": 0, "premium_tier": 0, "nsfw_level": 0,
                "preferred_locale": "en-US", "max_members": 500000}

    def _message(self, channel_id: int, author: dict[str, Any], content: str, *, reply_to: int | None = None,
                 components: list[Any] | None = None, flags: int = 0) -> dict[str, Any]:
        channel = self.channels[channel_id]
        mentions = [u for u in self.users.values() if f"<@{u['id']}>" in content or f"<@!{u['id']}>" in content]
        message: dict[str, Any] = {
            "id": str(self.snowflake()), "channel_id": str(channel_id), "author": author, "content": content,
            "timestamp": _now(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": mentions, "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "type": 0, "flags": flags, "components": components or [],
        }
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
            message["member"] = {k: v for k, v in self._member(author).items() if k != "user"}
        if reply_to is not None:
            parent = self.message(channel_id, reply_to)
            message["type"] = 19
            message["message_reference"] = {"type": 0, "message_id": str(reply_to), "channel_id": str(channel_id),
                                            **({"guild_id": channel["guild_id"]} if channel.get("guild_id") else {})}
            message["referenced_message"] = {k: v for k, v in parent.items() if k != "referenced_message"}
        return message

    def message(self, channel_id: int, message_id: int | str) -> dict[str, Any]:
        for message in self.messages.get(channel_id, []):
            if message["id"] == str(message_id):
                return message
        raise KeyError(f"no message {message_id} in channel {channel_id}")

    # -- acting as people -------------------------------------------------------------------------

    async def say(self, user: dict[str, Any], channel_id: int, content: str, *,
                  reply_to: int | str | None = None) -> dict[str, Any]:
        """`user` posts `content` in `channel_id` (a reply to `reply_to`); the bot gets MESSAGE_CREATE."""
        message = self._message(channel_id, user, content, reply_to=None if reply_to is None else int(reply_to))
        await self._store_and_dispatch(channel_id, message)
        return message

    def mention(self) -> str:
        return f"<@{self.bot['id']}>"

    async def create_thread(self, user: dict[str, Any], parent_id: int, name: str) -> int:
        """`user` opens a thread under a text channel; the bot gets THREAD_CREATE."""
        thread_id = self.snowflake()
        self.channels[thread_id] = {
            "id": str(thread_id), "type": 11, "guild_id": str(self.guild_id), "parent_id": str(parent_id),
            "name": name, "owner_id": user["id"], "member_count": 1, "message_count": 0, "last_message_id": None,
            "rate_limit_per_user": 0, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": _now(),
                                "locked": False},
        }
        self.messages[thread_id] = []
        await self._dispatch("THREAD_CREATE", {**self.channels[thread_id], "newly_created": True})
        return thread_id

    async def click(self, user: dict[str, Any], message: dict[str, Any], custom_id: str) -> Interaction:
        """`user` presses the button `custom_id` on `message`."""
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, user, int(message["channel_id"]), data, message=message)

    async def slash(self, user: dict[str, Any], channel_id: int, name: str, **options: Any) -> Interaction:
        """`user` runs `/name` with `options` in `channel_id`."""
        return await self._interact(2, user, channel_id, self._command_data(name, options, focused=None))

    async def autocomplete(self, user: dict[str, Any], channel_id: int, name: str, focused: str,
                           **options: Any) -> Interaction:
        """`user` is typing option `focused` of `/name`; the answer holds the choices."""
        return await self._interact(4, user, channel_id, self._command_data(name, options, focused=focused))

    def button_ids(self, message: dict[str, Any]) -> list[str]:
        """The custom ids of the buttons on `message` (as it is now)."""
        current = self.message(int(message["channel_id"]), message["id"])
        return [button["custom_id"] for row in current.get("components") or [] for button in row["components"]]

    def _command_data(self, name: str, options: dict[str, Any], *, focused: str | None) -> dict[str, Any]:
        command = next((c for c in self.commands if c["name"] == name), None)
        if command is None:
            raise KeyError(f"the bot registered no /{name}; it has {[c['name'] for c in self.commands]}")
        declared = {o["name"]: o for o in command.get("options", [])}
        given = [{"name": key, "type": declared[key]["type"], "value": value, **({"focused": True}
                  if key == focused else {})} for key, value in options.items()]
        return {"id": command["id"], "name": name, "type": 1, "options": given}

    async def _interact(self, kind: int, user: dict[str, Any], channel_id: int, data: dict[str, Any], *,
                        message: dict[str, Any] | None = None) -> Interaction:
        interaction_id = self.snowflake()
        token = f"interaction-{secrets.token_hex(8)}"
        channel = self.channels[channel_id]
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(self.application_id), "type": kind, "data": data,
            "channel_id": str(channel_id), "channel": channel, "token": token, "version": 1, "locale": "en-US",
            "app_permissions": str((1 << 41) - 1), "entitlements": [], "authorizing_integration_owners": {},
            "attachment_size_limit": 10_485_760,
        }
        if channel.get("guild_id"):
            payload |= {"guild_id": channel["guild_id"], "guild_locale": "en-US", "context": 0,
                        "member": self._member(user)}
        else:
            payload |= {"user": user, "context": 1}
        if message is not None:
            payload["message"] = self.message(channel_id, message["id"])
        record = self.interactions[interaction_id] = Interaction(interaction_id, token, payload)
        await self._dispatch("INTERACTION_CREATE", payload)
        return record

    # -- observing --------------------------------------------------------------------------------

    def bot_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages[channel_id] if m["author"]["id"] == self.bot["id"]]

    def calls_to(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    async def wait_for(self, check: Callable[[], Any]) -> Any:
        """Wait until `check()` returns something truthy (re-checked after every change); returns it.

        Unbounded: callers bound it with `anyio.fail_after`.
        """
        async with self._changed:
            while not (found := check()):
                await self._changed.wait()
            return found

    async def wait_connected(self, sessions: int = 1) -> None:
        """Wait until `sessions` gateway sessions (in total, so far) got READY and their servers."""
        await self.wait_for(lambda: self.sessions_ready >= sessions)

    def rate_limit_edits(self, times: int = 1, retry_after: float = 0.3) -> None:
        """The next `times` message edits answer 429 with `retry_after`, as Discord's per-route limit does."""
        self._edit_faults += [retry_after] * times

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- REST -------------------------------------------------------------------------------------

    async def _store_and_dispatch(self, channel_id: int, message: dict[str, Any]) -> None:
        self.messages[channel_id].append(message)
        self.channels[channel_id]["last_message_id"] = message["id"]
        await self._dispatch("MESSAGE_CREATE", message)

    async def _record(self, request: Request, status: int = 200) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.calls.append(Call(request.method, request.url.path, body, time.monotonic(), status))
        return body

    def _created(self, message: dict[str, Any]) -> None:
        """Note on the last call which message it created or changed."""
        last = self.calls[-1]
        self.calls[-1] = Call(last.method, last.path, last.body, last.at, last.status, message["id"])

    def contents(self, message: dict[str, Any]) -> list[str]:
        """Every content a bot message had, in order: as posted, then after each edit that went through."""
        return [c.body.get("content") or "" for c in self.calls if c.message_id == message["id"]]

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bot {self.token}"

    async def _rest(self, request: Request) -> Response:
        path = request.url.path.removeprefix("/api/v10")
        webhook = path.startswith(("/webhooks/", "/interactions/"))
        if not webhook and not self._authorized(request):
            await self._record(request, 401)
            await self._changed_now()
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, status_code=401)
        for pattern, handler in self._routes:
            if request.method == pattern[0] and (match := _match(pattern[1], path)) is not None:
                try:
                    return await handler(request, *match)
                finally:
                    await self._changed_now()
        await self._record(request, 404)
        return JSONResponse({"message": f"the fake has no {request.method} {path}", "code": 0}, status_code=404)

    @property
    def _routes(self) -> list[tuple[tuple[str, str], Callable[..., Any]]]:
        return [
            (("GET", "/users/@me"), self._me),
            (("GET", "/oauth2/applications/@me"), self._application),
            (("GET", "/gateway"), self._gateway_info),
            (("GET", "/gateway/bot"), self._gateway_info),
            (("PUT", "/applications/{}/commands"), self._put_commands),
            (("GET", "/channels/{}"), self._get_channel),
            (("POST", "/channels/{}/typing"), self._typing),
            (("POST", "/channels/{}/messages"), self._post_message),
            (("GET", "/channels/{}/messages"), self._history),
            (("GET", "/channels/{}/messages/{}"), self._get_message),
            (("PATCH", "/channels/{}/messages/{}"), self._edit_message),
            (("POST", "/interactions/{}/{}/callback"), self._callback),
            (("PATCH", "/webhooks/{}/{}/messages/@original"), self._edit_original),
            (("GET", "/webhooks/{}/{}/messages/@original"), self._get_original),
            (("POST", "/webhooks/{}/{}"), self._followup),
        ]

    async def _me(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse(self.bot | {"verified": True, "mfa_enabled": False, "flags": 0})

    async def _application(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"id": str(self.application_id), "name": "Variet", "description": "", "icon": None,
                             "bot_public": False, "bot_require_code_grant": False, "owner": self.bot,
                             "verify_key": "0" * 64, "flags": 0, "team": None, "summary": ""})

    async def _gateway_info(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})

    async def _put_commands(self, request: Request, _app: str) -> Response:
        body = await self._record(request)
        known = {c["name"]: c["id"] for c in self.commands}
        self.commands = [{**command, "id": known.get(command["name"]) or str(self.snowflake()),
                          "application_id": str(self.application_id), "version": str(self.snowflake()),
                          "type": command.get("type", 1), "default_member_permissions": None,
                          "dm_permission": True, "nsfw": False} for command in body]
        return JSONResponse(self.commands)

    async def _get_channel(self, request: Request, channel_id: str) -> Response:
        await self._record(request)
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return JSONResponse({"message": "Unknown Channel", "code": 10003}, status_code=404)
        return JSONResponse(channel)

    async def _typing(self, request: Request, _channel: str) -> Response:
        await self._record(request)
        return Response(status_code=204)

    async def _post_message(self, request: Request, channel_id: str) -> Response:
        body = await self._record(request)
        channel = int(channel_id)
        reference = (body.get("message_reference") or {}).get("message_id")
        message = self._message(channel, self.bot, body.get("content") or "", components=body.get("components"),
                                reply_to=None if reference is None else int(reference), flags=body.get("flags") or 0)
        self._created(message)
        await self._store_and_dispatch(channel, message)
        return JSONResponse(message)

    async def _history(self, request: Request, channel_id: str) -> Response:
        await self._record(request)
        q = request.query_params
        found = list(self.messages.get(int(channel_id), []))
        if q.get("before"):
            found = [m for m in found if int(m["id"]) < int(q["before"])]
        if q.get("after"):
            found = [m for m in found if int(m["id"]) > int(q["after"])]
        found = [m for m in found if not m["flags"] & _EPHEMERAL]
        return JSONResponse(list(reversed(found))[: int(q.get("limit", "50"))])

    async def _get_message(self, request: Request, channel_id: str, message_id: str) -> Response:
        await self._record(request)
        try:
            return JSONResponse(self.message(int(channel_id), message_id))
        except KeyError:
            return JSONResponse({"message": "Unknown Message", "code": 10008}, status_code=404)

    async def _edit_message(self, request: Request, channel_id: str, message_id: str) -> Response:
        if self._edit_faults:
            retry_after = self._edit_faults.pop(0)
            await self._record(request, 429)
            return JSONResponse({"message": "You are being rate limited.", "retry_after": retry_after,
                                 "global": False, "code": 0}, status_code=429,
                                headers={"Retry-After": str(max(1, round(retry_after))), "X-RateLimit-Limit": "5",
                                         "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(retry_after),
                                         "X-RateLimit-Bucket": "fake-edit-bucket", "X-RateLimit-Scope": "user",
                                         "Via": "1.1 google"})
        body = await self._record(request)
        message = self.message(int(channel_id), message_id)
        self._apply_edit(message, body)
        self._created(message)
        await self._dispatch("MESSAGE_UPDATE", message)
        return JSONResponse(message)

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("content", "components", "embeds", "flags"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        message["edited_timestamp"] = _now()

    async def _callback(self, request: Request, interaction_id: str, token: str) -> Response:
        body = await self._record(request)
        interaction = self.interactions.get(int(interaction_id))
        if interaction is None or interaction.token != token:
            return JSONResponse({"message": "Unknown interaction", "code": 10062}, status_code=404)
        if interaction.answered:
            return JSONResponse({"message": "Interaction has already been acknowledged.", "code": 40060},
                                status_code=400)
        interaction.responses.append(body)
        kind, data = body["type"], body.get("data") or {}
        channel_id = int(interaction.payload["channel_id"])
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):  # a message (or "thinking…" until it is edited)
            original = self._message(channel_id, self.bot, data.get("content") or "",
                                     components=data.get("components"), flags=data.get("flags") or 0)
            user = interaction.payload.get("user") or interaction.payload["member"]["user"]
            original["interaction_metadata"] = {"id": interaction_id, "type": interaction.payload["type"],
                                                "user": user, "authorizing_integration_owners": {}}
            self.messages[channel_id].append(original)
            interaction.original = original
            resource["message"] = original
        elif kind == 7:  # update the message the button is on
            message = self.message(channel_id, interaction.payload["message"]["id"])
            self._apply_edit(message, data)
            resource["message"] = message
        answer = {"interaction": {"id": interaction_id, "type": interaction.payload["type"],
                                  "response_message_id": (resource.get("message") or {}).get("id"),
                                  "response_message_loading": kind == 5,
                                  "response_message_ephemeral": bool((data.get("flags") or 0) & _EPHEMERAL)},
                  "resource": resource}
        return JSONResponse(answer)

    def _by_token(self, token: str) -> Interaction:
        return next(i for i in self.interactions.values() if i.token == token)

    async def _edit_original(self, request: Request, _app: str, token: str) -> Response:
        body = await self._record(request)
        interaction = self._by_token(token)
        if interaction.original is None:
            return JSONResponse({"message": "Unknown Message", "code": 10008}, status_code=404)
        self._apply_edit(interaction.original, body)
        return JSONResponse(interaction.original)

    async def _get_original(self, request: Request, _app: str, token: str) -> Response:
        await self._record(request)
        original = self._by_token(token).original
        return JSONResponse(original) if original else JSONResponse({"code": 10008}, status_code=404)

    async def _followup(self, request: Request, _app: str, token: str) -> Response:
        body = await self._record(request)
        interaction = self._by_token(token)
        channel_id = int(interaction.payload["channel_id"])
        message = self._message(channel_id, self.bot, body.get("content") or "", components=body.get("components"),
                                flags=body.get("flags") or 0)
        self.messages[channel_id].append(message)
        interaction.followups.append(message)
        return JSONResponse(message)

    # -- gateway ----------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self.root.replace("http://", "ws://") + "/gateway"

    @property
    def api_url(self) -> str:
        return self.root + "/api/v10"

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        for session in list(self._sessions):
            if session.ready:
                await session.dispatch(event, data)
        await self._changed_now()

    async def _gateway(self, websocket: WebSocket) -> None:
        await websocket.accept()
        session = _Session(websocket)
        self._sessions.append(session)
        try:
            await session.send({"op": 10, "d": {"heartbeat_interval": _HEARTBEAT_MS}})
            while True:
                frame = json.loads(await websocket.receive_text())
                op = frame.get("op")
                if op == 1:
                    await session.send({"op": 11})
                elif op == 2:
                    if not await self._identify(session, frame["d"]):
                        return
                elif op == 6:  # RESUME: sessions do not survive here; the client identifies again
                    await session.send({"op": 9, "d": False})
        except WebSocketDisconnect:
            pass
        finally:
            session.ready = False
            self._sessions.remove(session)
            await self._changed_now()

    async def _identify(self, session: _Session, data: dict[str, Any]) -> bool:
        self.identified.append({**data, "token": data.get("token") == self.token})
        code = None
        if data.get("token") != self.token:
            code = 4004  # Authentication failed
        elif int(data.get("intents", 0)) & MESSAGE_CONTENT_INTENT and not self.privileged_intents:
            code = 4014  # Disallowed intent(s)
        if code is not None:
            self.closed_with.append(code)
            await session.websocket.close(code)
            return False
        ready = {"v": 10, "user": self.bot, "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                 "session_id": secrets.token_hex(16), "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                 "application": {"id": str(self.application_id), "flags": 0}, "private_channels": [],
                 "relationships": [], "user_settings": {}, "session_type": "normal", "geo_ordered_rtc_regions": []}
        await session.dispatch("READY", ready)
        await session.dispatch("GUILD_CREATE", self._guild())
        session.ready = True
        self.sessions_ready += 1
        await self._changed_now()
        return True

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            WebSocketRoute("/gateway", self._gateway),
            Route("/api/v10/{path:path}", self._rest, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ])


class _Session:
    """One gateway connection and its sequence numbers."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.sequence = 0
        self.ready = False
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_text(json.dumps(frame))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.send({"op": 0, "t": event, "s": self.sequence, "d": data})


def _match(pattern: str, path: str) -> tuple[str, ...] | None:
    """The `{}` parts of `pattern` found in `path`, or None when it does not match."""
    want, have = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(have):
        return None
    values = []
    for expected, actual in zip(want, have, strict=True):
        if expected == "{}":
            values.append(actual)
        elif expected != actual:
            return None
    return tuple(values)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@asynccontextmanager
async def serve_fake_discord(**options: Any) -> AsyncIterator[FakeDiscord]:
    """A `FakeDiscord` served on a free 127.0.0.1 port in this event loop while the block runs."""
    fake = FakeDiscord(**options)
    # With the protocol named, asyncio turns Nagle's algorithm off on each connection (it checks `proto`):
    # otherwise a response's body waits for the client's delayed ACK of its headers, 40 ms a request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    fake.root = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(fake.app, lifespan="off", log_level="warning", access_log=False,
                                           ws_ping_interval=None, timeout_graceful_shutdown=2))
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve, [sock])
            try:
                yield fake
            finally:
                server.should_exit = True
    finally:
        sock.close()
