"""The durable store of the dataset (issue 15): SQLite embedded, PostgreSQL for replicas.

A store holds the records a dataset directory holds (sources, entities with their list
memberships, links, arrangements) with every version each had, and an append-only change log
(who, when, why, before, after). It is **bitemporal**: valid time stays in the records
(``valid_from``/``valid_to``, a list membership's ``since``/``until``); transaction time is
the change seq that wrote a version and the one that superseded it. The store version is the
last change seq; :meth:`Store.snapshot` rebuilds the dataset as known at any seq or instant,
through the loader's own validation, so a score of last month can be given again exactly.

Every write is validated as the loader validates a directory (the record, then the whole
dataset after it), needs an actor and a reason, checks an etag (optimistic concurrency) and may
carry a request id (a retry returns the first result). Errors are :class:`StoreError`
subclasses that name the field and the gRPC status the server maps them to.

Worked example:

>>> import datetime as dt, tempfile, os
>>> from georisk.scoring.engine import DEFAULT_DATA
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "georisk.db")
>>> migrate(url)
'0002'
>>> store = open_store(url)
>>> first = store.init_from(DEFAULT_DATA, actor="ops", reason="seed from data/")
>>> doc, etag = store.get("link", "vw-owns-gotion")
>>> doc["share"]
{'minimum': 0.2647, 'maximum': 0.3}
>>> w = store.update("link", "vw-owns-gotion", {"share": 0.3}, update_mask=["share"],
...                  etag=etag, actor="analyst@example.org", reason="A21: about 30% in Oct 2025")
>>> w.version == first + 1, w.doc["share"]
(True, 0.3)
>>> store.update("link", "vw-owns-gotion", {"share": 0.31}, update_mask=["share"],
...              etag=etag, actor="someone", reason="late")
Traceback (most recent call last):
...
georisk.store.errors.Conflict: link.etag: link 'vw-owns-gotion' was changed since etag '...'
>>> then, seq = store.snapshot(as_known_at=first)
>>> then.links["vw-owns-gotion"].share.minimum, store.snapshot()[0].links["vw-owns-gotion"].share
(0.2647, 0.3)
>>> [(c.op, c.actor, c.before["share"], c.after["share"])
...  for c in store.changes(after_seq=first)[0]]
[('update', 'analyst@example.org', {'minimum': 0.2647, 'maximum': 0.3}, 0.3)]
>>> store.close()
"""

from georisk.store.db import migrate, normalize_url
from georisk.store.errors import (
    AlreadyExists,
    Conflict,
    IdempotencyMismatch,
    InvalidWrite,
    NotFound,
    SchemaOutdated,
    StoreError,
    StoreNotEmpty,
)
from georisk.store.store import Change, Store, Written, open_store

__all__ = [
    "AlreadyExists",
    "Change",
    "Conflict",
    "IdempotencyMismatch",
    "InvalidWrite",
    "NotFound",
    "SchemaOutdated",
    "Store",
    "StoreError",
    "StoreNotEmpty",
    "Written",
    "migrate",
    "normalize_url",
    "open_store",
]
