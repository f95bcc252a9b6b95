"""A portal customer's tickets: the ones they are the customer of, about an agent they are assigned (or none).

The portal's session gives the customer and its current assignments (`PortalCustomer`);
every function here is scoped by them, and a ticket outside them is `TicketNotFound`, the
same as a missing one: another customer's ticket, another business's, or one about an agent
since unassigned. A customer's reply is mailed to the business and reopens a resolved ticket.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence

from customers import tickets
from customers.ticket_errors import NotInBusiness, TicketNotFound
from storage.executor import Executor


@dataclasses.dataclass(frozen=True)
class PortalCustomer:
    """Who is signed in to the portal: the customer, its business and the agents it is assigned now."""

    id: uuid.UUID
    business_id: uuid.UUID
    agent_ids: Sequence[uuid.UUID]


def _visible(customer: PortalCustomer, ticket: tickets.Ticket) -> bool:
    return ticket.customer_id == customer.id and (ticket.agent_id is None or ticket.agent_id in customer.agent_ids)


async def get(db: Executor, customer: PortalCustomer, ticket_id: uuid.UUID) -> tickets.Ticket:
    """Raises: TicketNotFound for a ticket outside the customer's scope."""
    ticket = await tickets.get(db, customer.business_id, ticket_id)
    if not _visible(customer, ticket):
        raise TicketNotFound()
    return ticket


async def list_tickets(db: Executor, customer: PortalCustomer, *, status: tickets.Status | None,
                       after: tuple[datetime.datetime, uuid.UUID] | None, limit: int) -> list[tickets.Ticket]:
    """The customer's tickets newest first."""
    return await tickets.list_tickets(
        db, customer.business_id,
        tickets.Filters(status=status, customer_id=customer.id, agent_ids=list(customer.agent_ids)),
        after=after, limit=limit)


async def open_ticket(db: Executor, customer: PortalCustomer, *, subject: str, description: str,
                      priority: tickets.Priority, agent_id: uuid.UUID | None, now: datetime.datetime,
                      mail_domain: str) -> tickets.Ticket:
    """Open a ticket from the portal (mailed to the business).

    Raises:
        NotInBusiness: the agent is not one the customer is assigned.
        ValueError: the subject or description is not acceptable.
    """
    if agent_id is not None and agent_id not in customer.agent_ids:
        raise NotInBusiness("agent")
    ticket, _ = await tickets.open_ticket(
        db, customer.business_id,
        tickets.NewTicket(subject, description, "portal", priority=priority, agent_id=agent_id,
                          customer_id=customer.id), now=now, mail_domain=mail_domain)
    return ticket


async def reply(db: Executor, customer: PortalCustomer, ticket_id: uuid.UUID, content: str, *,
                now: datetime.datetime, mail_domain: str) -> tuple[tickets.Ticket, tickets.TicketMessage]:
    """The customer's reply on their ticket.

    Raises:
        TicketNotFound: outside the customer's scope.
        TicketClosed: the ticket is closed.
        ValueError: the content is empty or too long.
    """
    await get(db, customer, ticket_id)
    return await tickets.add_message(db, customer.business_id, ticket_id, "customer", content, now=now,
                                     mail_domain=mail_domain)
