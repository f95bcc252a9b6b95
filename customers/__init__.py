"""Customers of a business: single-use sign-in links, the portal's reads, and support tickets.

The floor above `automations`: the agent's `open_ticket` tool joins the automations tool
registry, and the portal reads conversations, outcomes and leads from the floors below.
"""
