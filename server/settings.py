"""Server settings, read from environment variables (documented in README "Serving").

Two profiles: ``development`` (default: reflection on) and ``production`` (reflection off unless
explicitly enabled, plaintext refused on non-loopback addresses unless explicitly allowed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from georisk.server.identity import Identity, parse_mtls_roles, parse_token_entry

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: expected true or false")


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected an integer") from None
    if not lo <= v <= hi:
        raise SettingsError(f"{name}={v}: expected {lo}..{hi}")
    return v


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if v < 0:
        raise SettingsError(f"{name}={v}: must not be negative")
    return v


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    address: str = "127.0.0.1:50051"
    pack: str = "all"  # every shipped pack (us first); "us": the US pack alone
    profile: str = "development"
    reflection: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # set → mutual TLS (client certificates required)
    auth_tokens: tuple[str, ...] = field(default=(), repr=False)  # never logged
    #: (token, identity) of every token entry (``TOKEN`` or ``TOKEN NAME ROLE``: identity.py)
    token_identities: tuple[tuple[str, Identity], ...] = field(default=(), repr=False)
    #: client-certificate common name → role under mutual TLS (others are readers)
    mtls_roles: tuple[tuple[str, str], ...] = ()
    #: the durable store served from (``sqlite:///PATH`` or ``postgresql://…``); None: the
    #: dataset directory
    store_url: str | None = field(default=None, repr=False)  # may hold a password
    #: how often a store-backed server looks for changes written by other replicas, seconds
    store_poll_seconds: float = 0.5
    allow_insecure_remote: bool = False
    max_batch: int = 1000
    max_message_bytes: int = 4 * 1024 * 1024  # largest request accepted
    #: largest response sent. 128 MiB: BatchScoreArrangements with the documented maximum of
    #: 1,000 ids in the FULL view is up to 67 MiB on the shipped data (1.9x margin); a larger
    #: response is refused with RESOURCE_EXHAUSTED + QuotaFailure, never cut off by gRPC
    max_response_bytes: int = 128 * 1024 * 1024
    max_path_depth: int = 12
    max_paths: int = 200
    grace_seconds: float = 10.0
    #: calls are counted and logged in batches, at most this long after they end (all at
    #: stop), and ``georisk serve`` writes log lines to its stream handlers in batches, at most
    #: this long after they were logged (WARNING and above at once); 0: each at once
    log_flush_seconds: float = 0.05
    metrics_address: str | None = None  # host:port for the Prometheus scrape endpoint
    workers: int = 2  # threads scoring off the event loop
    cache_size: int = 4096  # scored results kept per dataset version
    reuseport: bool = False  # SO_REUSEPORT: several server processes share one port

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        e = os.environ if env is None else env
        from georisk.scoring.engine import DEFAULT_DATA

        profile = e.get("GEORISK_PROFILE", "development")
        if profile not in ("development", "production"):
            raise SettingsError(f"GEORISK_PROFILE={profile!r}: expected development or production")
        entries: list[tuple[str, str]] = [
            ("GEORISK_AUTH_TOKENS", t.strip())
            for t in e.get("GEORISK_AUTH_TOKENS", "").split(",")
            if t.strip()
        ]
        token_file = _path(e, "GEORISK_AUTH_TOKENS_FILE")
        if token_file is not None:
            try:
                lines = token_file.read_text().splitlines()
            except OSError as exc:
                raise SettingsError(f"GEORISK_AUTH_TOKENS_FILE: cannot read: {exc}") from None
            entries += [
                (f"GEORISK_AUTH_TOKENS_FILE line {n}", t.strip())
                for n, t in enumerate(lines, 1)
                if t.strip() and not t.strip().startswith("#")
            ]
        idents: list[tuple[str, Identity]] = []
        for where, entry in entries:
            try:
                idents.append(parse_token_entry(entry))
            except ValueError as exc:
                raise SettingsError(f"{where}: {exc}") from None
        tokens = [t for t, _ in idents]
        try:
            mtls_roles = parse_mtls_roles(e.get("GEORISK_MTLS_ROLES", ""))
        except ValueError as exc:
            raise SettingsError(f"GEORISK_MTLS_ROLES: {exc}") from None
        s = Settings(
            data_dir=_path(e, "GEORISK_DATA") or DEFAULT_DATA,
            address=e.get("GEORISK_ADDRESS", "127.0.0.1:50051"),
            pack=e.get("GEORISK_PACK", "all"),
            profile=profile,
            reflection=_bool(e, "GEORISK_REFLECTION", profile == "development"),
            tls_cert=_path(e, "GEORISK_TLS_CERT"),
            tls_key=_path(e, "GEORISK_TLS_KEY"),
            tls_client_ca=_path(e, "GEORISK_TLS_CLIENT_CA"),
            auth_tokens=tuple(tokens),
            token_identities=tuple(idents),
            mtls_roles=tuple(sorted(mtls_roles.items())),
            store_url=e.get("GEORISK_STORE") or None,
            store_poll_seconds=_float(e, "GEORISK_STORE_POLL_SECONDS", 0.5),
            allow_insecure_remote=_bool(
                e, "GEORISK_ALLOW_INSECURE_REMOTE", profile == "development"
            ),
            max_batch=_int(e, "GEORISK_MAX_BATCH", 1000, 1, 100_000),
            max_message_bytes=_int(e, "GEORISK_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, 1024, 1 << 30),
            max_response_bytes=_int(
                e, "GEORISK_MAX_RESPONSE_BYTES", 128 * 1024 * 1024, 1024, (1 << 31) - 1
            ),
            max_path_depth=_int(e, "GEORISK_MAX_PATH_DEPTH", 12, 1, 64),
            max_paths=_int(e, "GEORISK_MAX_PATHS", 200, 1, 10_000),
            grace_seconds=_float(e, "GEORISK_GRACE_SECONDS", 10.0),
            log_flush_seconds=_float(e, "GEORISK_LOG_FLUSH_SECONDS", 0.05),
            metrics_address=e.get("GEORISK_METRICS_ADDRESS") or None,
            workers=_int(e, "GEORISK_WORKERS", 2, 1, 64),
            cache_size=_int(e, "GEORISK_CACHE_SIZE", 4096, 0, 10_000_000),
            reuseport=_bool(e, "GEORISK_REUSEPORT", False),
        )
        s = Settings(**{**s.__dict__, **overrides})
        s.check()
        return s

    def check(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("GEORISK_TLS_CERT and GEORISK_TLS_KEY must be set together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise SettingsError("GEORISK_TLS_CLIENT_CA (mutual TLS) needs GEORISK_TLS_CERT/KEY")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def loopback(self) -> bool:
        host = self.address.rsplit(":", 1)[0].strip("[]")
        return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
