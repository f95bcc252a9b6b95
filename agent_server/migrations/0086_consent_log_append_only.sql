-- The consent log is append-only in full: 0080 refused UPDATE; DELETE and TRUNCATE are refused
-- too, with the same error the ledger's triggers give (restrict_violation, naming the operation).
-- A correction is a new opt-in or opt-out row. So a business with consent history can't be
-- deleted (its rows would cascade away); like one with money history, it is suspended instead.
CREATE OR REPLACE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_events_append_only();
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only();
