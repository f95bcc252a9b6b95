"""The job runner: PostgreSQL-backed jobs with dedupe keys, retries with backoff, leases and recurring schedules.

A building block: it imports only `storage` and `config_fields`. Handlers are registered by
kind by whoever runs the runner (the shell), so no job kind's code is imported here.
"""
