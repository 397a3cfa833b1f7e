"""Reading a conversation back from Discord: the reply chain, the thread, or the DM.

A reply continues the chain it replies to (followed through Discord's references, fetched when not cached,
so it survives a restart); a message in a thread continues the thread; a DM continues the DM; a mention
in a server channel starts a new conversation. At most `limit` messages, oldest first.
"""

from __future__ import annotations

import logging

import discord

from variet.assistant.conversation import Said

__all__ = ["addressed_to_bot", "channel_ids", "conversation_of", "said"]

log = logging.getLogger("variet.assistant")


def said(message: discord.Message, bot_id: int) -> Said:
    author = message.author
    return Said(author.id, author.display_name, author.id == bot_id, message.content, message.id)


def channel_ids(channel: object) -> tuple[int, ...]:
    """The channel's id, then its parent's for a thread (what pins and allowed channels match)."""
    ids = [getattr(channel, "id", 0)]
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        ids.append(channel.parent_id)
    return tuple(ids)


async def conversation_of(message: discord.Message, *, bot_id: int, limit: int) -> list[Said]:
    """The conversation `message` belongs to, ending with it."""
    channel = message.channel
    if isinstance(channel, discord.Thread) or (message.reference is None and isinstance(channel, discord.DMChannel)):
        earlier = [m async for m in channel.history(limit=limit - 1, before=message)]
        return [said(m, bot_id) for m in reversed(earlier)] + [said(message, bot_id)]
    chain = [message]
    current = message
    while (reference := current.reference) is not None and len(chain) < limit:
        parent_id = reference.message_id
        if parent_id is None:
            break
        parent = reference.resolved if isinstance(reference.resolved, discord.Message) else reference.cached_message
        if parent is None:
            try:
                parent = await channel.fetch_message(parent_id)
            except discord.HTTPException as exc:  # deleted, or no access: the chain starts here
                log.debug("reply chain ends at %d: %s", parent_id, exc)
                break
        chain.append(parent)
        current = parent
    return [said(m, bot_id) for m in reversed(chain)]


def addressed_to_bot(message: discord.Message, bot_id: int) -> bool:
    """DMs always; elsewhere a mention of the bot (not @everyone) or a reply to one of its messages."""
    if isinstance(message.channel, discord.DMChannel):
        return True
    if any(user.id == bot_id for user in message.mentions):
        return True
    resolved = message.reference.resolved if message.reference is not None else None
    return isinstance(resolved, discord.Message) and resolved.author.id == bot_id
