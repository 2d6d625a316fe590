"""georisk command line: wires the scoring library (and later the gRPC server)."""

# The generated gRPC stubs live in server/_gen/georisk/v1 and import themselves as `georisk.v1`;
# extend this package's path so both the CLI and the stubs resolve (see server/__init__.py).
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
