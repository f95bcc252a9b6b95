-- What each usage entry cost the platform at its providers (Twilio, Deepgram, the LLM), from
-- the [provider_costs] price table, written with the entry in the same statement. Micros:
-- millionths of one unit of the wallet's currency, since most provider prices are fractions
-- of a cent. `cost_estimated` flags a cost resting on a quantity no provider reported (a
-- call's LLM and speech, an SMS reply's segments) or a default row of the table. Entries
-- from before, and numbers the table has no price for, have no cost (NULL).
ALTER TABLE usage_details
    ADD COLUMN cost_micros bigint CHECK (cost_micros >= 0),
    ADD COLUMN cost_estimated boolean,
    ADD CONSTRAINT usage_details_cost_flagged CHECK ((cost_micros IS NULL) = (cost_estimated IS NULL));
