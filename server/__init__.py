"""The gRPC front end: translates between protobuf and the scoring library."""
