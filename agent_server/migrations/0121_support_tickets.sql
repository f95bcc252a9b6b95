-- Support tickets (customers/tickets.py): a business's numbered tickets and their threads, each
-- message with the Message-ID its email carries, so replies thread in a mail client.

-- The last ticket number a business handed out; taking the next one locks this row, so two
-- tickets opened at once get two numbers (T-1001, T-1002, ...), never the same one.
CREATE TABLE support_ticket_counters (
    business_id  uuid PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    last_number  integer NOT NULL CHECK (last_number >= 1000)
);

-- Where a business's customers write to about tickets (Reply-To of the emails they get); when
-- unset, the emails name the business's owners.
ALTER TABLE businesses ADD COLUMN support_email text CHECK (length(support_email) BETWEEN 3 AND 320);

-- Members choose whether they are emailed about tickets (outcomes/notifications.py).
ALTER TABLE notification_preferences ADD COLUMN ticket_activity boolean NOT NULL DEFAULT true;

CREATE TABLE support_tickets (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    number           integer NOT NULL CHECK (number >= 1001),
    agent_id         uuid REFERENCES agents(id) ON DELETE SET NULL,
    -- The business's customer (0120) the ticket belongs to, when one does: never another business's.
    customer_id      uuid,
    -- The widget conversation, call or SMS/WhatsApp stretch (conversation_outcomes' ids) it came from.
    conversation_id  uuid,
    subject          text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    description      text NOT NULL CHECK (length(description) <= 10000),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    priority         text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    source           text NOT NULL
                     CHECK (source IN ('widget', 'sms', 'whatsapp', 'call', 'portal', 'dashboard')),
    requester_name   text CHECK (length(requester_name) <= 200),
    requester_email  text CHECK (length(requester_email) BETWEEN 3 AND 320),
    requester_phone  text CHECK (requester_phone ~ '^\+[1-9][0-9]{6,14}$'),
    -- The Message-ID of the email that opened the thread: every later one answers it.
    message_id       text NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- The last message or status change: a resolved ticket quiet for 7 days is closed.
    last_activity_at timestamptz NOT NULL,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    UNIQUE (business_id, number),
    FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id) ON DELETE SET NULL (customer_id),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX support_tickets_list ON support_tickets (business_id, created_at DESC, id DESC);
CREATE INDEX support_tickets_customer ON support_tickets (customer_id, created_at DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX support_tickets_resolved ON support_tickets (last_activity_at) WHERE status = 'resolved';
-- One ticket per conversation: the agent's handoff asked twice opens it once.
CREATE UNIQUE INDEX support_tickets_conversation ON support_tickets (business_id, conversation_id)
    WHERE conversation_id IS NOT NULL;

-- sender_type `agent` is the business's staff (as in the original service), `ai` the business's agent.
CREATE TABLE support_ticket_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The thread's order, also between two messages of one instant.
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id       uuid NOT NULL REFERENCES support_tickets(id) ON DELETE CASCADE,
    sender_type     text NOT NULL CHECK (sender_type IN ('customer', 'agent', 'ai')),
    author_user_id  uuid REFERENCES users(id) ON DELETE SET NULL,
    content         text NOT NULL CHECK (length(content) BETWEEN 1 AND 10000),
    message_id      text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL
);
CREATE INDEX support_ticket_messages_thread ON support_ticket_messages (ticket_id, seq);
