"""Server reflection, both versions: ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

grpcio-reflection (1.85) implements only v1alpha, while current clients (``buf curl``'s default
``--reflect-protocol grpc-v1``, grpcurl ≥ 1.9, Postman) ask for v1 first. The two protocols are
the same messages under two package names (grpc/grpc-proto ``grpc/reflection/v1`` is a copy of
``v1alpha``), so their wire forms are identical: the v1 service here is the v1alpha servicer
registered under the v1 name, with the v1alpha message codecs. Its file descriptor (the v1alpha
one, renamed) is added to the default descriptor pool, so that reflection also describes itself
under both names.

>>> V1_SERVICE
'grpc.reflection.v1.ServerReflection'
>>> from google.protobuf import descriptor_pool
>>> descriptor_pool.Default().FindServiceByName(V1_SERVICE).methods[0].name
'ServerReflectionInfo'
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

__all__ = ["V1ALPHA_SERVICE", "V1_SERVICE", "enable_reflection"]

V1ALPHA_SERVICE: str = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE = f"{V1_PACKAGE}.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    """The v1 ``reflection.proto``: the v1alpha file with its package (and references) renamed."""
    fdp = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(fdp)
    old = fdp.package
    fdp.name, fdp.package = V1_FILE, V1_PACKAGE
    fdp.options.Clear()  # v1alpha's options name v1alpha packages (java_package, ...)
    for msg in fdp.message_type:
        for f in msg.field:
            if f.type_name.startswith(f".{old}."):
                f.type_name = f".{V1_PACKAGE}." + f.type_name[len(old) + 2 :]
    for svc in fdp.service:
        for m in svc.method:
            m.input_type = f".{V1_PACKAGE}." + m.input_type[len(old) + 2 :]
            m.output_type = f".{V1_PACKAGE}." + m.output_type[len(old) + 2 :]
    return fdp


def _register_v1() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.Add(_v1_file())


_register_v1()


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` and themselves."""
    names = (*service_names, V1_SERVICE, V1ALPHA_SERVICE)
    servicer = reflection.aio.ReflectionServicer(names)
    reflection.enable_server_reflection(names, server)
    v1 = grpc.method_handlers_generic_handler(
        V1_SERVICE,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))
