"""Forms and actions: typed forms, business tools the model calls on every channel, and signed webhooks.

A floor above `outcomes`: it reads conversations, queues mail and jobs, and checks outside URLs
with the knowledge base's URL guard. Channels reach its tools through an interface the shell
fills, so nothing below imports it.
"""
