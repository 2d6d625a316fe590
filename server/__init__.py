"""The gRPC front end (``georisk.server``): translates between protobuf and the scoring library.

It holds no domain logic: requests are parsed here, handed to :mod:`georisk.scoring`, and the
results are converted back to ``georisk.v1`` messages (generated into :mod:`georisk.v1`).
"""
