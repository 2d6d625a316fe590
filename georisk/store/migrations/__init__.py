"""Alembic migrations of the store's schema (run by :func:`georisk.store.migrate`).

A new revision is a module in ``versions/`` written by hand after ``v0001_initial``
(``revision``, ``down_revision``, ``upgrade``), with :data:`georisk.store.schema.HEAD` moved
to it.
"""
