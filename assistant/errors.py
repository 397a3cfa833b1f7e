"""The assistant's failures, and the one line a person reads about any failure.

    AssistantError            (VarietError)
    ├── ServerUnavailable     an MCP server is not running: names it and why
    ├── DiscordTokenRejected  Discord refused the bot token
    └── DiscordIntentMissing  the Message Content intent is not enabled for the bot

`explain` maps every exception that can reach a person (ours, the engine client's, discord.py's, MCP's)
to one actionable line without a traceback; the log gets the same line.
"""

from __future__ import annotations

from variet.shared.errors import VarietError

__all__ = ["AssistantError", "DiscordIntentMissing", "DiscordTokenRejected", "ServerUnavailable", "explain"]

INTENT_FIX = (
    "Discord refused the Message Content intent: in the Developer Portal open your application -> Bot and "
    "turn on MESSAGE CONTENT INTENT under Privileged Gateway Intents, then restart `variet discord`."
)
TOKEN_FIX = (
    "Discord rejected the bot token: in the Developer Portal open your application -> Bot -> Reset Token, and "
    "put the new token in VARIET_DISCORD_TOKEN or [discord] token_file."
)


class AssistantError(VarietError):
    """A failure of the assistant a person can act on; the message says how."""


class ServerUnavailable(AssistantError):
    """An MCP server is not running (it failed to start or stopped answering)."""


class DiscordTokenRejected(AssistantError):
    def __init__(self) -> None:
        super().__init__(TOKEN_FIX)


class DiscordIntentMissing(AssistantError):
    def __init__(self) -> None:
        super().__init__(INTENT_FIX)


def explain(exc: BaseException) -> str:
    """One line for the channel and the log: what failed and what to do, never a traceback."""
    import discord

    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, VarietError):
        return " ".join(str(exc).split())
    if isinstance(exc, discord.LoginFailure):
        return TOKEN_FIX
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return INTENT_FIX
    if isinstance(exc, discord.Forbidden):
        return f"Discord refused ({exc.status}): the bot lacks a permission here ({exc.text or 'no details'})."
    if isinstance(exc, discord.HTTPException):
        return f"Discord answered {exc.status}: {exc.text or 'no details'}."
    if isinstance(exc, TimeoutError):
        return "That took too long and was stopped."
    return f"Something went wrong ({type(exc).__name__}); the bot's log has the details."
