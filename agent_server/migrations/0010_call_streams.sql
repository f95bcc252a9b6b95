-- Live calls: one media stream per call, transfer target, and the listing order the dashboard pages by.

-- Set once when Twilio's media stream joins the call; a second stream for the same call is refused.
ALTER TABLE calls ADD COLUMN stream_started_at timestamptz;
-- The human number a call was handed to (transfer_call).
ALTER TABLE calls ADD COLUMN transferred_to text;
-- Keyset pagination of GET /api/calls: newest first, id breaks ties.
CREATE INDEX calls_business_started_id ON calls (business_id, started_at DESC, id DESC);
