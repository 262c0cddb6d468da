"""Persistence for the after-sales assistant: models, engines, migrations, ticket numbers.

`storage.models` (tables), `storage.db` (engines and sessions for SQLite and
PostgreSQL), `storage.migrate` (Alembic, driven from code), `storage.tickets`
(ticket numbers), `storage.testing` (isolated databases for tests).  Depends on
nothing else of ours.
"""
