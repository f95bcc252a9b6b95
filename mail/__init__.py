"""Email: one mailer interface with its SMTP implementation, templates, and the outbox a job delivers.

A building block: it imports `jobs` (the outbox queues its send job in the caller's
transaction), `storage` and `config_fields`, never a domain or the shell.
"""
