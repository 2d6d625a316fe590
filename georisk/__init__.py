"""georisk command line: wires the scoring library (and later the gRPC server)."""
