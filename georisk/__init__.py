"""georisk: geopolitical risk scoring for industrial deals.

One installed import name holds everything:

- :mod:`georisk.scoring`: the domain library (no gRPC, no processes, no progress bars);
- :mod:`georisk.server`: the gRPC service, which only translates to and from the domain;
- :mod:`georisk.v1`: the generated protobuf/gRPC code of ``proto/georisk/v1``;
- :mod:`georisk.cli`, :mod:`georisk.client`, :mod:`georisk.batch`, :mod:`georisk.synth`: the
  command line and what only it needs.

``georisk.scoring``, ``georisk.server`` and ``georisk.data`` are the repository's top-level
``scoring/``, ``server/`` and ``data/`` directories, linked into this package (see
ARCHITECTURE.md); a wheel holds them as plain directories.
"""

__version__ = "0.1.0"
