"""Businesses texting their customers: contacts, consent, the outbound SMS outbox and its dispatcher."""
