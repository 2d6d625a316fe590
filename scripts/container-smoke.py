#!/usr/bin/env python3
"""Smoke-test a running georisk server (e.g. the container in .ci/container-test) with the typed
Python client: health, a score, an error path and the scenario list. Exit 0 if all hold."""

from __future__ import annotations

import argparse
import sys

import grpc

from georisk.client import GeoriskClient, GeoriskError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--address", required=True)
    ap.add_argument("--token", default=None)
    args = ap.parse_args()
    with GeoriskClient(args.address, token=args.token, timeout=30) as c:
        assert c.health() == "SERVING", "health is not SERVING"
        s = c.score("ford-marshall", as_of="2026-11-22")
        assert s.arrangement.id == "ford-marshall" and s.dataset_version.startswith("sha256:")
        v45 = next(v for v in s.verdicts if v.rule == "us-45x")
        assert v45.verdict == 1, (
            f"§45X verdict {v45.verdict}, expected ELIGIBLE"
        )  # VERDICT_ELIGIBLE
        try:
            c.score("no-such-deal")
        except GeoriskError as e:
            assert e.code is grpc.StatusCode.NOT_FOUND, e
        else:
            raise AssertionError("unknown arrangement did not fail")
        assert next(x.id for x in c.scenarios()) == "current-law"
        print(f"smoke ok: ford-marshall overall {s.overall.score:.1f}, dataset {s.dataset_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
