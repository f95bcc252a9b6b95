-- Which version of the agent answered: a call keeps the configuration it was admitted with, and
-- each stored reply names the version that wrote it (agent_server/agent_edits.py).

-- The voice webhook stores the agent's version; the media stream loads that version's
-- configuration from agent_versions, so an edit landing mid-call changes the next call only.
-- Null for calls recorded before versions existed (or an agent never versioned): the stream then
-- uses the agent as it is.
ALTER TABLE calls ADD COLUMN agent_version integer CHECK (agent_version > 0);

-- The version that wrote an agent reply (null: a visitor's or caller's own message, or older rows).
ALTER TABLE sms_messages ADD COLUMN agent_version integer CHECK (agent_version > 0);
ALTER TABLE widget_messages ADD COLUMN agent_version integer CHECK (agent_version > 0);
