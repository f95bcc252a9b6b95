-- Token caps in one round trip each (llm_usage/token_budgets.py), and a call's blocks tied to its call.
--
-- token_reserve and token_close do in one statement what took a transaction of several: the
-- budget rows are locked only while the function runs, never across a round trip to the client,
-- which is what bounds one busy agent's replies a second (bench/token_caps.py). Every writer locks
-- the reservation row first (close), then the day row, then the month row, so none can deadlock.

-- The call a reservation is a block of (NULL: a chat reply's): the sweeper settles an abandoned
-- block from the call's llm_requests rows (conversation_id = the call's id, channel voice).
ALTER TABLE token_reservations ADD COLUMN call_id uuid;
CREATE INDEX token_reservations_call ON token_reservations (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX llm_requests_voice_call ON llm_requests (conversation_id) WHERE channel = 'voice';

-- Reserve prompt + max output tokens in the agent's day and month (both rows created when
-- missing), cutting the output to what is left down to min_output (llm_usage.token_caps.fit is
-- the same rule in Python, and a test holds the two together). Returns the reservation, or
-- refused = the period that has no room (the month when both are short), reserving nothing.
CREATE FUNCTION token_reserve(p_agent uuid, p_day date, p_month date, p_day_limit bigint, p_month_limit bigint,
                              p_prompt bigint, p_max_tokens bigint, p_min_output bigint, p_expires timestamptz,
                              p_call uuid,
                              OUT r_id bigint, OUT r_need bigint, OUT r_max_tokens bigint, OUT r_refused text)
LANGUAGE plpgsql AS $$
DECLARE
    d_used bigint; d_reserved bigint; m_used bigint; m_reserved bigint;
    d_left bigint; m_left bigint; room bigint;
BEGIN
    SELECT used, reserved INTO d_used, d_reserved FROM token_budgets
     WHERE agent_id = p_agent AND period = 'day' AND start = p_day FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO token_budgets AS b (agent_id, period, start, token_limit) VALUES (p_agent, 'day', p_day, p_day_limit)
        ON CONFLICT (agent_id, period, start) DO UPDATE SET token_limit = EXCLUDED.token_limit
        RETURNING b.used, b.reserved INTO d_used, d_reserved;
    END IF;
    SELECT used, reserved INTO m_used, m_reserved FROM token_budgets
     WHERE agent_id = p_agent AND period = 'month' AND start = p_month FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO token_budgets AS b (agent_id, period, start, token_limit) VALUES (p_agent, 'month', p_month, p_month_limit)
        ON CONFLICT (agent_id, period, start) DO UPDATE SET token_limit = EXCLUDED.token_limit
        RETURNING b.used, b.reserved INTO m_used, m_reserved;
    END IF;
    -- NULL: no limit (greatest() would skip the NULL and say 0)
    d_left := CASE WHEN p_day_limit IS NOT NULL THEN greatest(0, p_day_limit - d_used - d_reserved) END;
    m_left := CASE WHEN p_month_limit IS NOT NULL THEN greatest(0, p_month_limit - m_used - m_reserved) END;
    room := least(d_left, m_left);  -- least() skips NULLs
    r_need := p_prompt + p_max_tokens;
    r_max_tokens := p_max_tokens;
    IF room IS NOT NULL AND room < r_need THEN
        IF room < p_prompt + p_min_output THEN
            r_refused := CASE WHEN m_left < p_prompt + p_min_output THEN 'month' ELSE 'day' END;
            UPDATE token_budgets SET token_limit = CASE period WHEN 'day' THEN p_day_limit ELSE p_month_limit END
             WHERE agent_id = p_agent AND ((period = 'day' AND start = p_day AND token_limit IS DISTINCT FROM p_day_limit)
                OR (period = 'month' AND start = p_month AND token_limit IS DISTINCT FROM p_month_limit));
            RETURN;
        END IF;
        r_need := room;
        r_max_tokens := room - p_prompt;
    END IF;
    UPDATE token_budgets SET reserved = reserved + r_need,
                             token_limit = CASE period WHEN 'day' THEN p_day_limit ELSE p_month_limit END
     WHERE agent_id = p_agent AND ((period = 'day' AND start = p_day) OR (period = 'month' AND start = p_month));
    INSERT INTO token_reservations (agent_id, amount, day_start, month_start, expires_at, call_id)
    VALUES (p_agent, r_need, p_day, p_month, p_expires, p_call) RETURNING id INTO r_id;
END $$;

-- Close a reservation once: count p_used tokens (NULL: released, nothing counted) in the periods
-- it was taken from and free what it reserved. False when it was already closed.
CREATE FUNCTION token_close(p_id bigint, p_at timestamptz, p_used bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_agent uuid; v_amount bigint; v_day date; v_month date;
BEGIN
    UPDATE token_reservations SET settled_at = p_at, used = p_used WHERE id = p_id AND settled_at IS NULL
    RETURNING agent_id, amount, day_start, month_start INTO v_agent, v_amount, v_day, v_month;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE token_budgets SET used = used + coalesce(p_used, 0), reserved = reserved - v_amount
     WHERE agent_id = v_agent AND period = 'day' AND start = v_day;
    UPDATE token_budgets SET used = used + coalesce(p_used, 0), reserved = reserved - v_amount
     WHERE agent_id = v_agent AND period = 'month' AND start = v_month;
    RETURN true;
END $$;
