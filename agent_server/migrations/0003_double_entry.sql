-- Double entry: every wallet entry is one side of a transfer whose other side is a row here,
-- in a platform account, for the opposite amount in the same currency. Written in the same
-- statement as the wallet entry (billing/ledger.py insert_entry), so neither exists alone.
-- Platform accounts have no balance row: 200 live calls would all lock it at every
-- checkpoint. Their balances are sums over these rows (billing/accounts.py).
-- Invariant, per currency: Σ ledger_entries.amount + Σ platform_entries.amount = 0.
CREATE TABLE platform_entries (
    entry_id  bigint PRIMARY KEY REFERENCES ledger_entries(id),
    account   text NOT NULL CHECK (account IN ('stripe_clearing', 'revenue:call', 'revenue:sms', 'revenue:chat',
                                               'revenue:number_purchase', 'revenue:number_rent', 'refunds',
                                               'disputes', 'adjustments')),
    currency  text NOT NULL CHECK (currency IN ('USD', 'INR')),
    amount    bigint NOT NULL CHECK (amount <> 0)
);

-- Existing entries, each given its counter-side by kind.
INSERT INTO platform_entries (entry_id, account, currency, amount)
SELECT e.id,
       CASE e.kind WHEN 'topup' THEN 'stripe_clearing'
                   WHEN 'refund' THEN 'refunds'
                   WHEN 'call_usage' THEN 'revenue:call'
                   WHEN 'sms_usage' THEN 'revenue:sms'
                   WHEN 'chat_usage' THEN 'revenue:chat'
                   WHEN 'number_purchase' THEN 'revenue:number_purchase'
                   WHEN 'number_rent' THEN 'revenue:number_rent'
                   WHEN 'adjustment' THEN 'adjustments' END,
       w.currency, -e.amount
  FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id;

CREATE TRIGGER platform_entries_append_only BEFORE UPDATE OR DELETE ON platform_entries
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER platform_entries_no_truncate BEFORE TRUNCATE ON platform_entries
    FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_change();
