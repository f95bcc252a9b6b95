"""Money: the wallet ledger, holds, Stripe top-ups and their typed errors."""
