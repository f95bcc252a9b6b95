"""Retrieval quality: 40 help-centre questions, each with the article that answers it, through a real crawl and FTS.

The site is crawled end to end (the crawler, trafilatura in the extraction pool, chunking,
publishing) and each question is searched as the grounding of a chat turn searches it: the
agent's top 4 chunks. A question counts as a hit when one of them comes from its article.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from agent_server import agents
from knowledge import index, store
from knowledge.crawl_job import CrawlContext, run_crawl
from knowledge.extraction import Extractor
from storage.transactions import transaction
from tests.conftest import MakeBusiness
from tests.knowledge import help_centre
from tests.knowledge.crawling import TEST_CONFIG

TOP = 4
REQUIRED_HIT_RATE = 0.9
QUESTIONS: list[tuple[str, str]] = [
    ("How long is the free trial and do I need a credit card?", "/help/create-account"),
    ("What can a viewer do in our account?", "/help/invite-team"),
    ("Where do I put my logo and tax number for invoices?", "/help/company-profile"),
    ("Can I import my client list from a CSV file?", "/help/import-customers"),
    ("How do I send an invoice to a customer?", "/help/create-invoice"),
    ("Can I bill a client automatically every month?", "/help/recurring-invoices"),
    ("How do I change the colour and font of my invoices?", "/help/invoice-templates"),
    ("I made a mistake on an invoice I already sent, can I delete it?", "/help/credit-notes"),
    ("How long does a refund to a card take?", "/help/credit-notes"),
    ("Can Pennywise remind customers who have not paid?", "/help/late-payment-reminders"),
    ("Can I charge a late fee on overdue invoices?", "/help/late-payment-reminders"),
    ("How do I change the invoice number prefix?", "/help/invoice-numbering"),
    ("Can I invoice a customer in US dollars?", "/help/multi-currency"),
    ("How do I add VAT to my invoices?", "/help/tax-rates"),
    ("What is reverse charge and how do I use it?", "/help/tax-rates"),
    ("Can customers pay with Apple Pay?", "/help/card-payments"),
    ("Where do customers find my IBAN to pay by bank transfer?", "/help/bank-transfers"),
    ("What are the fees for card payments?", "/help/payment-fees"),
    ("When will I receive the money from card payments?", "/help/payouts"),
    ("My first payout is taking a long time, why?", "/help/payouts"),
    ("How do I ask for a deposit before starting work?", "/help/partial-payments"),
    ("How do I record a partial payment?", "/help/partial-payments"),
    ("Can I photograph receipts with my phone?", "/help/receipts"),
    ("How long are receipt images stored?", "/help/receipts"),
    ("How do I claim mileage for business trips?", "/help/mileage"),
    ("Which banks can I connect?", "/help/bank-feeds"),
    ("How do I see my net profit for last quarter?", "/help/profit-loss"),
    ("Can my accountant get access for free?", "/help/export-accountant"),
    ("Can I submit my VAT return to HMRC?", "/help/tax-return"),
    ("How much does the Pro plan cost?", "/help/plans"),
    ("If I downgrade, when does it take effect?", "/help/change-plan"),
    ("What happens to my data if I cancel?", "/help/cancel"),
    ("Where can I download receipts for my subscription payments?", "/help/billing-invoices"),
    ("How do I turn on two-factor authentication?", "/help/two-factor"),
    ("I forgot my password", "/help/reset-password"),
    ("Where is my data stored and is it GDPR compliant?", "/help/data-security"),
    ("What is the API rate limit?", "/help/api"),
    ("Can I connect Pennywise to Slack?", "/help/zapier"),
    ("Does the mobile app work offline?", "/help/mobile-app"),
    ("What are your support hours?", "/help/contact-support"),
]


@pytest.fixture
async def help_site() -> AsyncIterator[TestServer]:
    async for server in help_centre.serve():
        yield server


def test_every_question_names_an_article_and_the_site_is_big_enough() -> None:
    assert len(QUESTIONS) == 40 and len(help_centre.ARTICLES) >= 30
    assert {path for _, path in QUESTIONS} <= set(help_centre.ARTICLES)


async def test_top_4_full_text_search_finds_the_answering_article_for_90_percent(
        pool: asyncpg.Pool, make_business: MakeBusiness, help_site: TestServer, extractor: Extractor) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Support", language="en-GB")
    source = await store.create_source(pool, business_id=tenant.business_id, agent_id=agent_id, kind="website",
                                       url=str(help_site.make_url("/")))
    async with transaction(pool) as conn:
        crawl_id = await store.queue_crawl(conn, source, max_running=3, now=datetime.datetime.now(datetime.UTC))
    assert await run_crawl(pool, crawl_id, CrawlContext(TEST_CONFIG, extractor, "AgentServerBot/test")) == "completed"
    crawl = await store.get_crawl(pool, crawl_id, agent_id)
    assert crawl is not None and crawl.indexed >= len(help_centre.ARTICLES)

    misses = []
    for question, answer in QUESTIONS:
        hits = await index.search(pool, agent_id, question, language="english", limit=TOP)
        found = [URL(h.url or "").path for h in hits]
        if answer not in found:
            misses.append(f"{question!r} -> {answer} not in {found}")
    hit_rate = 1 - len(misses) / len(QUESTIONS)
    assert hit_rate >= REQUIRED_HIT_RATE, f"top-{TOP} hit rate {hit_rate:.0%}; misses:\n" + "\n".join(misses)
