-- The agent's `handoffTickets` setting (issue 25): the built-in `open_ticket` tool on every channel, on by default.
ALTER TABLE agents ADD COLUMN handoff_tickets boolean NOT NULL DEFAULT true;
