"""A help centre on 127.0.0.1 for retrieval-quality tests: 34 articles of an invoicing app, with the usual page chrome.

The articles share their vocabulary (invoice, payment, account, bank appear everywhere), as a
real help centre's do, so finding the one that answers a question is not a matter of one rare
word. The start page links every article; there is no robots.txt and no sitemap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestServer

# path -> (title, [(heading or "", paragraph), ...])
ARTICLES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "/help/create-account": ("Creating your Pennywise account", [
        ("", "Sign up at pennywise.example with your work email address. We send a confirmation link that is valid"
             " for 24 hours; click it to activate the account and choose a password."),
        ("Free trial", "Every new account starts with a 30-day free trial of the Growth plan. No credit card is"
                       " needed to start the trial, and you choose a plan before it ends."),
    ]),
    "/help/invite-team": ("Inviting team members", [
        ("", "Open Settings, then Team, and click Invite. Enter your colleague's email address and pick a role."),
        ("Roles", "Admins can change billing and delete data. Editors create and send invoices and record expenses."
                  " Viewers can only look at invoices and reports. The Starter plan includes one user; Growth"
                  " includes five users and Pro is unlimited."),
    ]),
    "/help/company-profile": ("Setting up your company profile", [
        ("", "Your company profile holds the business name, postal address, logo and tax registration number that"
             " appear on every invoice. Go to Settings, then Company."),
        ("Logo", "Upload a PNG or JPG logo up to 2 MB; it is scaled to fit the invoice header."),
    ]),
    "/help/import-customers": ("Importing customers from a spreadsheet", [
        ("", "Move your existing client list into Pennywise with a CSV file. Go to Customers, click Import and"
             " upload the file; map each column (name, email, address, VAT number) to a customer field."),
        ("Duplicates", "Rows whose email already belongs to a customer update that customer instead of creating"
                       " a second one. Up to 5,000 rows can be imported at a time."),
    ]),
    "/help/create-invoice": ("Creating and sending an invoice", [
        ("", "Click New invoice, choose the customer, add line items with quantity and unit price, and set the"
             " due date. The total, tax and balance are calculated as you type."),
        ("Sending", "Press Send to email the invoice as a PDF with a link to pay online. You can also download"
                    " the PDF and send it yourself, or mark the invoice as sent."),
    ]),
    "/help/recurring-invoices": ("Recurring invoices", [
        ("", "For retainers and subscriptions, set up a recurring invoice: choose the frequency (weekly, monthly,"
             " quarterly or yearly), the start date and optionally an end date."),
        ("Automatic sending", "Each occurrence is created on schedule and emailed automatically, or saved as a"
                              " draft for you to review if you prefer. Pause a schedule at any time."),
    ]),
    "/help/invoice-templates": ("Customising invoice templates", [
        ("", "Change the look of your invoices under Settings, then Templates. Pick one of four layouts, your brand"
             " colour and font, and add a footer with payment terms or a thank-you note."),
        ("Custom fields", "Add custom fields such as a purchase order number or project code; they print under"
                          " the invoice number."),
    ]),
    "/help/credit-notes": ("Credit notes and refunds", [
        ("", "An invoice that has been sent cannot be deleted. To correct or cancel it, issue a credit note from"
             " the invoice's menu: it cancels all or part of the amount and keeps your books consistent."),
        ("Refunding a customer", "If the customer already paid by card, refund them from the payment's page; the"
                                 " refund reaches their card in 5 to 10 working days."),
    ]),
    "/help/late-payment-reminders": ("Automatic payment reminders", [
        ("", "Pennywise can chase unpaid invoices for you. Turn on reminders under Settings, then Reminders, and"
             " choose when they go out: for example 3 days before the due date, on the due date and 7 days after."),
        ("Late fees", "Optionally add a late fee, either a fixed amount or a percentage of the overdue balance."),
    ]),
    "/help/invoice-numbering": ("Invoice numbering", [
        ("", "Invoices are numbered in sequence, starting at INV-0001. Change the prefix or the next number under"
             " Settings, then Invoices. Numbers never repeat, as tax authorities require an unbroken sequence."),
    ]),
    "/help/multi-currency": ("Invoicing in foreign currencies", [
        ("", "Each customer can have their own currency. Invoices to that customer are issued in it, and reports"
             " convert amounts to your home currency using the daily exchange rate of the European Central Bank."),
        ("Supported currencies", "Over 130 currencies are supported, including US dollars, pounds sterling,"
                                 " Swiss francs and Japanese yen."),
    ]),
    "/help/tax-rates": ("Tax rates and VAT", [
        ("", "Add the tax rates you charge under Settings, then Taxes: a name such as VAT 20% and the percentage."
             " Apply a default rate to every line item or choose a rate per line."),
        ("Reverse charge", "For business customers in another EU country, mark the invoice as reverse charge: no"
                           " VAT is added and the required wording is printed on the invoice."),
    ]),
    "/help/card-payments": ("Accepting card payments online", [
        ("", "Connect Stripe under Settings, then Payments, to let customers pay invoices by credit or debit card,"
             " Apple Pay or Google Pay. A Pay now button then appears on every invoice email and PDF."),
        ("", "Paid invoices are marked as paid automatically when the payment succeeds."),
    ]),
    "/help/bank-transfers": ("Bank transfers and reconciliation", [
        ("", "Your IBAN and bank details print on invoices so customers can pay by transfer. When a transfer"
             " arrives in your connected bank feed, Pennywise suggests the matching invoice; confirm the match to"
             " mark it paid."),
    ]),
    "/help/payment-fees": ("Payment processing fees", [
        ("", "Pennywise charges nothing extra for online payments. Stripe's card fee applies: 1.5% plus 25 cents"
             " for European cards and 2.9% plus 25 cents for cards from elsewhere. Bank transfers are free."),
        ("Passing fees on", "You may add a surcharge to cover card fees where the law of your country allows it."),
    ]),
    "/help/payouts": ("When payouts reach your bank account", [
        ("", "Money from card payments is paid out by Stripe to your bank account on a rolling basis, usually two"
             " working days after the payment. Your first payout can take up to seven days while Stripe verifies"
             " your business."),
    ]),
    "/help/partial-payments": ("Partial payments and deposits", [
        ("", "Record a partial payment on an invoice and its balance goes down; the invoice shows as partly paid"
             " until the rest arrives. To ask for a deposit up front, create a deposit invoice for a percentage of"
             " the quote and deduct it on the final invoice."),
    ]),
    "/help/receipts": ("Scanning receipts with the mobile app", [
        ("", "Photograph a paper receipt with the Pennywise mobile app and it becomes an expense: the merchant,"
             " date, total and VAT are read from the photo. You can also forward emailed receipts to your"
             " personal receipts@ address."),
        ("Storage", "Receipt images are kept for ten years, which satisfies most record-keeping rules."),
    ]),
    "/help/mileage": ("Tracking mileage", [
        ("", "Log business journeys under Expenses, then Mileage: the start and end address, or the distance."
             " Pennywise applies your country's approved rate per kilometre or mile and adds the claim to your"
             " expenses."),
    ]),
    "/help/bank-feeds": ("Connecting your bank feed", [
        ("", "Connect your business bank account under Banking to import transactions every night. More than"
             " 2,000 banks in Europe and North America are supported through open banking."),
        ("Reconnecting", "Banks require you to renew access every 90 days; we email you a week before it expires."),
    ]),
    "/help/profit-loss": ("Profit and loss report", [
        ("", "The profit and loss report shows income, expenses and net profit for any period. Compare it with"
             " the previous period or the same period last year, and export it as PDF or Excel."),
    ]),
    "/help/export-accountant": ("Sharing your books with your accountant", [
        ("", "Invite your accountant as a free user with the Accountant role: they can see every report and"
             " export transactions without counting towards your user limit. Or export everything as CSV under"
             " Reports, then Export."),
    ]),
    "/help/tax-return": ("Preparing your VAT return", [
        ("", "The VAT report adds up the tax you charged on sales and the tax you paid on expenses for the"
             " return period. In the UK, submit the return to HMRC directly from Pennywise under Making Tax"
             " Digital."),
    ]),
    "/help/plans": ("Plans and pricing", [
        ("", "Starter costs 9 euros a month for one user and 20 invoices a month. Growth costs 24 euros a month"
             " with five users and unlimited invoices. Pro costs 49 euros a month with unlimited users, the API"
             " and priority support. Paying yearly saves two months."),
    ]),
    "/help/change-plan": ("Upgrading or downgrading your plan", [
        ("", "Change plan under Settings, then Subscription. An upgrade takes effect at once and you pay the"
             " prorated difference; a downgrade takes effect at the end of the current billing period."),
    ]),
    "/help/cancel": ("Cancelling your subscription", [
        ("", "Cancel under Settings, then Subscription, then Cancel subscription. You keep access until the end of"
             " the period you paid for; there are no refunds for unused months."),
        ("Your data after cancelling", "Your account becomes read-only and your data is kept for 12 months so you"
                                       " can export it, then it is deleted permanently."),
    ]),
    "/help/billing-invoices": ("Receipts for your Pennywise subscription", [
        ("", "Receipts for what you pay Pennywise are under Settings, then Subscription, then Billing history."
             " Download each one as a PDF with our VAT number for your own accounts."),
    ]),
    "/help/two-factor": ("Two-factor authentication", [
        ("", "Protect your account with a second step at sign-in. Turn on two-factor authentication under your"
             " profile, then Security, and scan the QR code with an authenticator app such as Google"
             " Authenticator or 1Password."),
        ("Backup codes", "Keep the ten backup codes somewhere safe: each lets you sign in once if you lose your"
                         " phone."),
    ]),
    "/help/reset-password": ("Resetting your password", [
        ("", "Forgot your password? Click Forgot password on the sign-in page and enter your email address. The"
             " reset link we send is valid for one hour. If no email arrives, check your spam folder."),
    ]),
    "/help/data-security": ("How we protect your data", [
        ("", "Your data is stored in data centres in Frankfurt, encrypted at rest and in transit. Backups are"
             " taken every hour and kept for 30 days. Pennywise complies with the GDPR and signs a data"
             " processing agreement on request."),
    ]),
    "/help/api": ("Using the Pennywise API", [
        ("", "The REST API lets you create customers and invoices from your own software. Create an API key"
             " under Settings, then Developers; the API is available on the Pro plan."),
        ("Rate limits", "Each key may make 120 requests per minute; beyond that the API answers 429 Too Many"
                        " Requests."),
    ]),
    "/help/zapier": ("Connecting Pennywise to other apps", [
        ("", "Use the Zapier integration to connect Pennywise to more than 5,000 apps: add new webshop orders as"
             " invoices, or post a message in Slack when an invoice is paid."),
    ]),
    "/help/mobile-app": ("The Pennywise mobile app", [
        ("", "Download the app for iPhone from the App Store or for Android from Google Play. Create invoices,"
             " check who owes you and scan receipts on the go; changes made offline sync when you are back"
             " online."),
    ]),
    "/help/contact-support": ("Contacting support", [
        ("", "Our support team answers by chat and email Monday to Friday from 8 am to 8 pm Central European"
             " Time. Pro customers can also call us on +44 20 7946 0000. We reply to emails within four hours on"
             " working days."),
    ]),
}


def _article(title: str, sections: list[tuple[str, str]]) -> str:
    nav = "".join(f'<li><a href="{path}">{t}</a></li>' for path, (t, _) in list(ARTICLES.items())[:8])
    body = "".join((f"<h2>{heading}</h2>" if heading else "") + f"<p>{text}</p>" for heading, text in sections)
    return (f"<html><head><title>{title} | Pennywise Help Centre</title></head><body>"
            f'<header><a href="/">Pennywise Help Centre</a><nav><ul>{nav}</ul></nav>'
            '<form action="/search"><input name="q" placeholder="Search articles"></form></header>'
            f"<main><article><h1>{title}</h1>{body}</article>"
            "<aside>Was this article helpful? Yes / No</aside></main>"
            '<footer><p>© 2025 Pennywise Ltd. All rights reserved.</p><a href="/privacy">Privacy policy</a>'
            '<div class="cookie-banner">We use cookies to improve your experience.</div></footer></body></html>')


def _home() -> str:
    links = "".join(f'<li><a href="{path}">{title}</a></li>' for path, (title, _) in ARTICLES.items())
    return (f"<html><head><title>Pennywise Help Centre</title></head><body><main><h1>How can we help?</h1>"
            f"<p>Guides and answers for invoicing, payments, expenses and your account.</p><ul>{links}</ul>"
            "</main></body></html>")


def app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        if request.path == "/":
            return web.Response(text=_home(), content_type="text/html")
        if request.path not in ARTICLES:
            return web.Response(status=404, text="not found")
        return web.Response(text=_article(*ARTICLES[request.path]), content_type="text/html")

    application = web.Application()
    application.router.add_get("/{path:.*}", page)
    return application


async def serve() -> AsyncIterator[TestServer]:
    server = TestServer(app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
