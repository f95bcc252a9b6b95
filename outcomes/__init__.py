"""After the conversation: when it ended, what the checked LLM analysis found, the leads, and who is emailed.

A floor above `conversations` (it reads their messages and pays for the analysis through
`conversations.payment.ReplyPayment`); it imports `jobs` and `mail` for its jobs and emails,
never the shell.
"""
