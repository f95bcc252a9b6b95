-- Stripe disputes in the wallet: the disputed amount taken when the dispute opens
-- (dispute_hold, may take the balance below zero), given back if it is won
-- (dispute_release), and the dispute fee taken if it is lost (dispute_fee). The counter-side
-- of all three is the `disputes` platform account.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('topup', 'refund', 'call_usage', 'sms_usage', 'chat_usage', 'number_purchase', 'number_rent',
                    'adjustment', 'dispute_hold', 'dispute_release', 'dispute_fee'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_sign_check
    CHECK (CASE kind WHEN 'topup' THEN amount > 0
                     WHEN 'dispute_release' THEN amount > 0
                     WHEN 'adjustment' THEN true
                     ELSE amount < 0 END);
