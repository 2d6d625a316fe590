"""A real browser draws each seed arrangement's memo: headless Chromium renders the HTML to a
PNG, and the test decodes the PNG (zlib and numpy, no imaging library) and checks that the
chart and the bars are drawn: the chart's node fills and the bars' segment colours cover many
pixels, the page is neither blank nor a solid block, and it has the many colours of a drawing.

Chromium (Debian package chromium-headless-shell) and Graphviz ``dot`` missing: the test skips
with a loud reason, and fails when ``GEORISK_REQUIRE_BROWSER=1`` (CI sets it).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from georisk.render import explain
from georisk.render.bars import segment_colour
from georisk.render.style import FILLS
from georisk.scoring.engine import Engine
from tests.conftest import DATA

ON = dt.date(2026, 11, 22)
SEEDS = sorted(Engine.from_dir(DATA).dataset.arrangements)
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
REQUIRED = os.environ.get("GEORISK_REQUIRE_BROWSER") == "1"
#: the page at half scale: the whole memo's chart section fits, and the PNG decodes fast
WINDOW, SCALE = (1000, 3000), 0.5


def browser() -> str:
    found = next((b for b in map(shutil.which, BROWSERS) if b), None)
    missing = [] if found else ["headless Chromium (apt-get install chromium-headless-shell)"]
    if shutil.which("dot") is None:
        missing.append("Graphviz dot (apt-get install graphviz)")
    if missing:
        msg = f"{' and '.join(missing)} not found on PATH"
        if REQUIRED:
            pytest.fail(f"{msg}, and GEORISK_REQUIRE_BROWSER=1 requires it")
        pytest.skip(f"!!! SKIPPED: {msg}: the memos were not drawn in a browser !!!")
    assert found is not None
    return found


def decode_png(data: bytes) -> np.ndarray:
    """The RGB pixels (height × width × 3) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = depth = ctype = interlace = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    raw = raw.reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int64)
    for y in range(height):
        f, line = int(raw[y, 0]), raw[y, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif f == 2:  # Up
            cur = (line + prev) % 256
        else:  # Average, Paeth: pixel by pixel
            row, up, c = line.tolist(), prev.tolist(), [0] * len(line)
            for i, v in enumerate(row):
                a = c[i - bpp] if i >= bpp else 0
                b = up[i]
                if f == 3:
                    c[i] = (v + ((a + b) >> 1)) & 255
                else:
                    d = up[i - bpp] if i >= bpp else 0
                    p = a + b - d
                    pa, pb, pd = abs(p - a), abs(p - b), abs(p - d)
                    c[i] = (v + (a if pa <= pb and pa <= pd else b if pb <= pd else d)) & 255
            cur = np.array(c, dtype=np.int64)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)[:, :, :3]


def near(img: np.ndarray, colour: str, tol: int = 6) -> int:
    """Pixels within ``tol`` of ``colour`` (``#rrggbb``) on every channel."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img.astype(np.int64) - rgb) <= tol).all(axis=2).sum())


def screenshot(exe: str, html: Path) -> bytes:
    png = html.with_suffix(".png")
    cmd = [exe, "--no-sandbox", "--headless", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--single-process", "--no-zygote"]  # one process: starts in half the time
    cmd += [f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--force-device-scale-factor={SCALE}"]
    cmd += [f"--screenshot={png}", html.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert png.exists(), f"no screenshot of {html.name}: {done.stderr[-500:]}"
    return png.read_bytes()


def test_every_seed_memo_draws_its_chart_in_a_browser(engine: Engine, tmp_path: Path) -> None:
    exe = browser()
    pages = {}
    for aid in SEEDS:
        r = explain(engine, aid, as_of=ON, fmt="html")
        path = tmp_path / f"memo-{aid}.html"
        path.write_bytes(r.data)
        pages[aid] = (path, r)
    with ThreadPoolExecutor(2) as pool:  # the machine has 2 cores; chromium starts in ~0.6 s
        got = pool.map(lambda a: screenshot(exe, pages[a][0]), SEEDS)
        shots = dict(zip(SEEDS, got, strict=True))
    for aid in SEEDS:
        img = decode_png(shots[aid])
        r = pages[aid][1]
        h, w, _ = img.shape
        assert (w, h) == (WINDOW[0] * SCALE, WINDOW[1] * SCALE), aid
        white = (img >= 250).all(axis=2).mean()
        assert 0.3 < white < 0.97, f"{aid}: {white:.0%} white: blank or a solid block"
        colours = len(np.unique(img.reshape(-1, 3) // 8, axis=0))
        assert colours > 40, f"{aid}: {colours} colours: not a drawing"
        # the chart: each node fill it uses covers an area (nodes are drawn, not just text)
        fills = {n.covered for n in r.chart.nodes if n.kind != "more"}
        areas = {f: near(img, FILLS[f].colour) for f in fills}
        assert sum(areas.values()) > 400, f"{aid}: the chart's nodes are not drawn: {areas}"
        assert min(areas.values()) > 15, f"{aid}: a node fill is missing: {areas}"
        # the bars: the first segment colour of the axes that have contributions
        if any(c.points > 5 for c in r.score.technology.contributions):
            assert near(img, segment_colour(0), tol=10) > 200, f"{aid}: the bars are not drawn"
