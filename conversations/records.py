"""SQL for text conversations: SMS messages and opt-outs, widget conversations and messages."""

from __future__ import annotations

import uuid

from conversations.conversation import AnsweredBy, Reply, Turn
from storage.executor import Executor


async def insert_inbound_sms(db: Executor, *, business_id: uuid.UUID, number_id: uuid.UUID,
                             agent_id: uuid.UUID | None, message_sid: str, sender: str, our_number: str,
                             body: str) -> uuid.UUID | None:
    """Store an inbound text; None when this MessageSid was already stored (a webhook retry)."""
    message_id: uuid.UUID | None = await db.fetchval(
        "INSERT INTO sms_messages (business_id, number_id, agent_id, message_sid, direction, from_number,"
        " to_number, body, status) VALUES ($1, $2, $3, $4, 'inbound', $5, $6, $7, 'received')"
        " ON CONFLICT (message_sid) DO NOTHING RETURNING id",
        business_id, number_id, agent_id, message_sid, sender, our_number, body)
    return message_id


async def sms_thread(db: Executor, *, business_id: uuid.UUID, our_number: str, sender: str,
                     limit: int, before: uuid.UUID) -> list[Turn]:
    """The last `limit` messages between this sender and our number, oldest first, excluding `before`."""
    rows = await db.fetch(
        "SELECT direction, body FROM sms_messages WHERE business_id = $1 AND id <> $5 AND"
        " ((from_number = $2 AND to_number = $3) OR (from_number = $3 AND to_number = $2))"
        " AND status <> 'failed' ORDER BY created_at DESC, id DESC LIMIT $4",
        business_id, sender, our_number, limit, before)
    return [Turn("user" if r["direction"] == "inbound" else "assistant", r["body"]) for r in reversed(rows)]


async def insert_outbound_sms(db: Executor, *, business_id: uuid.UUID, number_id: uuid.UUID,
                              agent_id: uuid.UUID | None, our_number: str, recipient: str, reply: Reply,
                              status: str, agent_version: int | None = None) -> uuid.UUID:
    """Store the agent's reply (status `replied` when sent as TwiML, `sending` before a REST send), with the
    agent version that wrote it."""
    message_id: uuid.UUID = await db.fetchval(
        "INSERT INTO sms_messages (business_id, number_id, agent_id, direction, from_number, to_number, body,"
        " status, answered_by, prompt_tokens, completion_tokens, agent_version)"
        " VALUES ($1, $2, $3, 'outbound', $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        business_id, number_id, agent_id, our_number, recipient, reply.text, status, reply.answered_by,
        reply.prompt_tokens, reply.completion_tokens, agent_version)
    return message_id


async def mark_sms(db: Executor, message_id: uuid.UUID, *, status: str, message_sid: str | None = None) -> None:
    """Record how a REST send ended (`sent` with Twilio's sid, or `failed`)."""
    await db.execute("UPDATE sms_messages SET status = $2, message_sid = coalesce($3, message_sid) WHERE id = $1",
                     message_id, status, message_sid)


async def set_opted_out(db: Executor, *, business_id: uuid.UUID, our_number: str, sender: str,
                        keyword: str) -> None:
    await db.execute(
        "INSERT INTO sms_opt_outs (business_id, our_number, sender, keyword) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (our_number, sender) DO UPDATE SET keyword = excluded.keyword,"
        " opted_out_at = now(), business_id = excluded.business_id",
        business_id, our_number, sender, keyword)


async def clear_opt_out(db: Executor, *, our_number: str, sender: str) -> None:
    await db.execute("DELETE FROM sms_opt_outs WHERE our_number = $1 AND sender = $2", our_number, sender)


async def is_opted_out(db: Executor, *, our_number: str, sender: str) -> bool:
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE our_number = $1 AND sender = $2)", our_number, sender)
    return found


async def create_conversation(db: Executor, conversation_id: uuid.UUID, *, agent_id: uuid.UUID,
                              business_id: uuid.UUID, origin: str) -> None:
    """Store a conversation under an id chosen in advance (so limits can key on it before the row exists)."""
    await db.execute(
        "INSERT INTO widget_conversations (id, agent_id, business_id, origin) VALUES ($1, $2, $3, $4)",
        conversation_id, agent_id, business_id, origin)


async def conversation_exists(db: Executor, conversation_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Whether this conversation belongs to this agent (another agent's id is treated as unknown)."""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM widget_conversations WHERE id = $1 AND agent_id = $2)",
        conversation_id, agent_id)
    return found


async def widget_history(db: Executor, conversation_id: uuid.UUID, limit: int) -> list[Turn]:
    """The last `limit` messages of a conversation, oldest first."""
    rows = await db.fetch(
        "SELECT role, text FROM widget_messages WHERE conversation_id = $1"
        " ORDER BY created_at DESC, id DESC LIMIT $2", conversation_id, limit)
    return [Turn(r["role"], r["text"]) for r in reversed(rows)]


async def add_widget_message(db: Executor, conversation_id: uuid.UUID, role: str, text: str, *,
                             answered_by: AnsweredBy | None = None, prompt_tokens: int = 0,
                             completion_tokens: int = 0, agent_version: int | None = None,
                             message_id: uuid.UUID | None = None) -> uuid.UUID:
    """Append a message (with its token usage and the agent version that wrote it, for assistant replies) and
    touch the conversation. `message_id` names it when its id was handed out before it was stored."""
    stored: uuid.UUID = await db.fetchval(
        "WITH touched AS (UPDATE widget_conversations SET updated_at = now() WHERE id = $1)"
        " INSERT INTO widget_messages (id, conversation_id, role, text, answered_by, prompt_tokens,"
        " completion_tokens, agent_version) VALUES (coalesce($8, gen_random_uuid()), $1, $2, $3, $4, $5, $6, $7)"
        " RETURNING id",
        conversation_id, role, text, answered_by, prompt_tokens, completion_tokens, agent_version, message_id)
    return stored


async def demo_agent_id(db: Executor) -> uuid.UUID | None:
    """The first active agent of the demo business that `agent-server serve --demo` seeds."""
    found: uuid.UUID | None = await db.fetchval(
        "SELECT a.id FROM users u JOIN memberships m ON m.user_id = u.id"
        " JOIN agents a ON a.business_id = m.business_id"
        " WHERE u.email = 'demo@example.com' AND a.active ORDER BY a.created_at, a.id LIMIT 1")
    return found
