"""Who is calling, and what they may do: identities and roles from the existing credentials.

An identity comes from the bearer token (``GEORISK_AUTH_TOKENS`` / ``_FILE`` entries written
``TOKEN NAME ROLE``; a bare ``TOKEN`` is a reader named ``token:<first 8 hex of its sha256>``)
or, under mutual TLS, from the client certificate's common name (roles from
``GEORISK_MTLS_ROLES="cn=role,…"``; other certificates are readers). A server with neither tokens
nor client certificates (development on loopback) treats every caller as the writer
``anonymous``. Roles are ordered: a **reader** scores and reads, a **writer** also writes records,
an **admin** also migrates and imports.

>>> parse_token_entry("s3cret alice@example.org writer")
('s3cret', Identity(name='alice@example.org', role='writer'))
>>> parse_token_entry("s3cret")[1].role
'reader'
>>> Identity("bob", "writer").may("reader"), Identity("bob", "reader").may("writer")
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ANONYMOUS", "ROLES", "Identity", "caller", "parse_mtls_roles", "parse_token_entry"]

ROLES = ("reader", "writer", "admin")


@dataclass(frozen=True)
class Identity:
    name: str
    role: str

    def may(self, role: str) -> bool:
        """True when this identity's role is ``role`` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


ANONYMOUS = Identity("anonymous", "writer")


def parse_token_entry(entry: str) -> tuple[str, Identity]:
    """One token entry: ``TOKEN`` or ``TOKEN NAME ROLE``; ValueError names what is wrong
    (never the token itself)."""
    parts = entry.split()
    if len(parts) == 1:
        digest = hashlib.sha256(parts[0].encode()).hexdigest()[:8]
        return parts[0], Identity(f"token:{digest}", "reader")
    if len(parts) != 3:
        raise ValueError("a token entry is TOKEN or TOKEN NAME ROLE")
    token, name, role = parts
    if role not in ROLES:
        raise ValueError(f"role {role!r} of {name!r} is not one of {', '.join(ROLES)}")
    return token, Identity(name, role)


def parse_mtls_roles(raw: str) -> dict[str, str]:
    """``cn=role,cn=role`` → {cn: role}; ValueError naming a bad item."""
    out: dict[str, str] = {}
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        cn, sep, role = item.rpartition("=")
        if not sep or not cn or role not in ROLES:
            raise ValueError(f"{item!r} is not CN=ROLE with ROLE one of {', '.join(ROLES)}")
        out[cn] = role
    return out


def caller(
    metadata: Iterable[tuple[str, Any]] | None,
    auth_context: Mapping[str, Iterable[bytes]] | None,
    tokens: Sequence[tuple[str, Identity]],
    mtls_roles: Mapping[str, str],
) -> Identity | None:
    """The identity of a call: from its bearer token when the server has tokens, else from its
    client certificate under mutual TLS, else :data:`ANONYMOUS` when the server checks neither.
    None when the server has tokens and the call's token is not one of them (the auth
    interceptor refuses such calls before they get here)."""
    if tokens:
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                given = value[len("Bearer ") :].encode()
                found = None
                for token, ident in tokens:  # every token compared, in constant time each
                    if hmac.compare_digest(given, token.encode()) and found is None:
                        found = ident
                return found
        return None
    cns = list((auth_context or {}).get("x509_common_name") or [])
    if cns:
        cn = cns[0].decode("utf-8", "replace")
        return Identity(cn, mtls_roles.get(cn, "reader"))
    return ANONYMOUS
