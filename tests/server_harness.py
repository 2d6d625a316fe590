"""Run a georisk gRPC server in a background thread (its own event loop) for tests.

The server binds 127.0.0.1:0; tests talk to it over the real network path with the typed
client, so interceptors, serialization and status details are all exercised.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from georisk.scoring.engine import Engine
from georisk.server.app import GeoriskApp, create_app
from georisk.server.settings import Settings

T = TypeVar("T")


class ServerThread:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings, self.engine = settings, engine
        self.loop = asyncio.new_event_loop()
        self.app: GeoriskApp | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            self.app = await create_app(self.settings, self.engine)
            await self.app.start()
        except BaseException as exc:  # surfaced to the test by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self.app.wait()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    @property
    def target(self) -> str:
        assert self.app is not None
        return f"127.0.0.1:{self.app.port}"

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self, grace: float = 0.0) -> None:
        if self.app is not None and self._thread.is_alive():
            self.call(self.app.stop(grace))
        self._thread.join(30)


def reflection_info(channel: grpc.Channel, version: str) -> Any:
    """The ``ServerReflectionInfo`` stream-stream callable of reflection ``version`` ("v1" or
    "v1alpha": the messages are wire-identical, so v1alpha's classes serve both)."""
    from grpc_reflection.v1alpha import reflection_pb2

    return channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )


@dataclass(frozen=True)
class Pki:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here
    rogue_cert: Path  # a client certificate signed by other_ca
    rogue_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return b.sign(ca_key, hashes.SHA256()), key


def make_pki(d: Path) -> Pki:
    def write(
        name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None
    ) -> tuple[Path, Path]:
        cp, kp = d / f"{name}.crt", d / f"{name}.key"
        cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            kp.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return cp, kp

    ca, ca_key = _ca("georisk test CA")
    other, other_key = _ca("some other CA")
    srv, srv_key = _leaf("localhost", ca, ca_key, server=True)
    cli, cli_key = _leaf("analyst", ca, ca_key, server=False)
    rogue, rogue_key = _leaf("rogue", other, other_key, server=False)
    ca_p, _ = write("ca", ca)
    other_p, _ = write("other-ca", other)
    s_c, s_k = write("server", srv, srv_key)
    c_c, c_k = write("client", cli, cli_key)
    r_c, r_k = write("rogue", rogue, rogue_key)
    return Pki(ca_p, s_c, s_k, c_c, c_k, other_p, r_c, r_k)
