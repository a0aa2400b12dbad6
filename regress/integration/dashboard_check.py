#!/usr/bin/env python3
"""
dashboard_check.py -- check luxe_fdw's built-in HTML dashboard.

  dashboard_check.py HTML_FILE EXPECTED.json [--svgs N] [--no-render]
                     [--screenshot OUT.png]

EXPECTED.json is a JSON list of strings that must appear in the page's
text (formatted values, brand names, headings), e.g.
  ["Seller distribution by country", "hermès", "1,234", "42.17 %"]
Text is compared after collapsing whitespace runs to one space; text
inside <script> and <style> does not count.

Static checks (the page must work with no network and no other file):
  * no http:// or https:// URL in any src, href, srcset, poster, data,
    background or xlink:href attribute, nor in a CSS url() (style
    attributes and <style> blocks);
  * no <script src>, no <link rel=stylesheet>, no @import, no @font-face
    loading anything but a data: URL; a resource reference (src, url(),
    href outside <a>) may only be a data: URL or a #fragment;
  * at least N top-level <svg> elements (default 4, one per insight),
    each drawing something (rect, path, line, circle, ...);
  * every string of EXPECTED.json appears in the text.
Rendering (skipped with --no-render): Debian's chromium takes a
1280x2000 headless screenshot of file://HTML_FILE; the PNG (decoded with
zlib, standard library) must show at least 3 colours covering >= 0.05 %
of the pixels each, and no colour may cover more than 99 % of them.
Then, at each of --widths (default 1000,1280,1600), a copy of the page
with a measuring script is rendered (--dump-dom) and no two <text>
elements of one chart may have overlapping bounding boxes.
Set CHROMIUM=/path/to/binary to choose the browser; install it with
"apt-get install -y chromium".

Prints "ok N - ..." / "not ok N - ..." lines and
"dashboard: P passed, F failed"; exits 1 if anything failed.

Standard library only.

Copyright (c) 2026, luxe_fdw authors

IDENTIFICATION regress/integration/dashboard_check.py
"""

import argparse
import collections
import html.parser
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

WIDTH, HEIGHT = 1280, 2000
MIN_COLOUR_SHARE = 0.0005      # a colour "counts" above 0.05 % of the pixels
MAX_DOMINANT_SHARE = 0.99
SHAPES = {"rect", "path", "line", "polyline", "polygon", "circle", "ellipse"}
URL_ATTRS = {"src", "href", "srcset", "poster", "data", "background",
             "xlink:href", "action", "formaction"}
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)


# ---------------------------------------------------------------------------
# static checks

class Page(html.parser.HTMLParser):
    """Collects what the static checks need in one pass."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []          # self-containment violations
        self.svgs = []              # per top-level <svg>: number of shapes
        self.svg_depth = 0
        self.text = []
        self.skip = 0               # inside <script>/<style>
        self.in_style = False
        self.styles = []

    def handle_starttag(self, tag, attrs):
        self._element(tag, attrs)
        if tag in ("script", "style"):
            self.skip += 1
            self.in_style = tag == "style"
        if tag == "svg":
            if self.svg_depth == 0:
                self.svgs.append(0)
            self.svg_depth += 1
        elif self.svg_depth and tag in SHAPES:
            self.svgs[-1] += 1

    def handle_startendtag(self, tag, attrs):
        self._element(tag, attrs)
        if tag == "svg" and self.svg_depth == 0:
            self.svgs.append(0)
        elif self.svg_depth and tag in SHAPES:
            self.svgs[-1] += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
            self.in_style = False
        elif tag == "svg" and self.svg_depth:
            self.svg_depth -= 1

    def handle_data(self, data):
        if self.skip:
            if self.in_style:
                self.styles.append(data)
        else:
            self.text.append(data)

    def _element(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        where = "<%s>" % tag
        done = set()
        if tag == "script" and "src" in a:
            self.problems.append("%s src=%r" % (where, a["src"]))
            done.add("src")
        if tag == "link" and "stylesheet" in a.get("rel", "").lower().split():
            self.problems.append("%s rel=stylesheet href=%r" % (where, a.get("href")))
            done.add("href")
        for k, v in a.items():
            if k not in URL_ATTRS or k in done:
                continue
            if EXTERNAL.search(v) or (k == "srcset" and re.search(r"https?://", v, re.I)):
                self.problems.append("%s %s=%r" % (where, k, v))
            elif tag != "a" and not _local(v):
                self.problems.append("%s %s=%r is a separate file" % (where, k, v))
        if "style" in a:
            self.problems += css_problems(a["style"], where + " style")


def _local(v):
    v = v.strip()
    return v == "" or v.startswith("#") or v.lower().startswith("data:")


def css_problems(css, where):
    out = []
    if re.search(r"@import", css, re.I):
        out.append("%s: @import" % where)
    for m in CSS_URL.finditer(css):
        u = m.group(2).strip()
        if not _local(u):
            out.append("%s: url(%s)" % (where, u[:80]))
    for m in re.finditer(r"@font-face\s*{([^}]*)}", css, re.I):
        for u in CSS_URL.finditer(m.group(1)):
            if not u.group(2).strip().lower().startswith("data:"):
                out.append("%s: @font-face src %s" % (where, u.group(2)[:80]))
    return out


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------------------
# PNG decoding (8-bit, non-interlaced: what Chromium writes)

def png_decode(data):
    """Return (width, height, bytes per pixel, list of row bytes)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    if ihdr is None:
        raise ValueError("no IHDR chunk")
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG: depth %d, colour type %d, interlace %d"
                         % (depth, ctype, interlace))
    raw = zlib.decompress(b"".join(idat))
    bpp, stride = channels, w * channels
    if len(raw) != h * (stride + 1):
        raise ValueError("image data is %d bytes, expected %d" % (len(raw), h * (stride + 1)))
    hi = int.from_bytes(b"\x80" * stride, "big")
    lo = int.from_bytes(b"\x7f" * stride, "big")
    prev = bytes(stride)
    rows = []
    for y in range(h):
        off = y * (stride + 1)
        ftype = raw[off]
        cur = raw[off + 1:off + 1 + stride]
        if ftype == 0:
            out = cur
        elif ftype == 2:        # Up: bytewise add, done on one big integer
            x, p = int.from_bytes(cur, "big"), int.from_bytes(prev, "big")
            out = (((x & lo) + (p & lo)) ^ ((x ^ p) & hi)).to_bytes(stride, "big")
        else:
            out = bytearray(cur)
            if ftype == 1:      # Sub
                for i in range(bpp, stride):
                    out[i] = (out[i] + out[i - bpp]) & 255
            elif ftype == 3:    # Average
                for i in range(stride):
                    left = out[i - bpp] if i >= bpp else 0
                    out[i] = (out[i] + ((left + prev[i]) >> 1)) & 255
            elif ftype == 4:    # Paeth
                for i in range(stride):
                    if i >= bpp:
                        a, c = out[i - bpp], prev[i - bpp]
                    else:
                        a = c = 0
                    b = prev[i]
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    if pa <= pb and pa <= pc:
                        pred = a
                    elif pb <= pc:
                        pred = b
                    else:
                        pred = c
                    out[i] = (out[i] + pred) & 255
            else:
                raise ValueError("bad filter type %d in row %d" % (ftype, y))
            out = bytes(out)
        rows.append(out)
        prev = out
    return w, h, bpp, rows


def colour_counts(w, bpp, rows):
    counts = collections.Counter()
    for row in rows:
        first = row[:bpp]
        if row == first * w:            # one colour across: common, fast
            counts[first] += w
        else:
            counts.update(row[i:i + bpp] for i in range(0, len(row), bpp))
    return counts


# ---------------------------------------------------------------------------
# rendering

def find_chromium():
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def screenshot(browser, html_path, png_path):
    """Return (seconds, error text or None)."""
    profile = tempfile.mkdtemp(prefix="luxe-chromium-")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + profile, "--window-size=%d,%d" % (WIDTH, HEIGHT),
           "--screenshot=" + png_path, pathlib.Path(html_path).resolve().as_uri()]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        err = None
        if p.returncode != 0 or not os.path.exists(png_path):
            tail = p.stderr.strip().splitlines()[-3:]
            err = "exit %d: %s" % (p.returncode, " | ".join(tail))
    except subprocess.TimeoutExpired:
        err = "timed out after 120 s"
    except OSError as e:
        err = "cannot run %s: %s" % (browser, e)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return time.perf_counter() - t0, err


# Injected into a copy of the page only (the page itself has no script):
# the bounding boxes of every chart's texts, and the pairs that overlap.
MEASURE = r"""<script>
(function () {
  var out = [], overlaps = [];
  var svgs = document.querySelectorAll('section > svg');
  for (var c = 0; c < svgs.length; c++) {
    var texts = svgs[c].querySelectorAll('text');
    var boxes = [];
    for (var i = 0; i < texts.length; i++) {
      var r = texts[i].getBoundingClientRect();
      boxes.push({t: texts[i].textContent, l: r.left, r: r.right, top: r.top, b: r.bottom});
    }
    for (var i = 0; i < boxes.length; i++)
      for (var j = i + 1; j < boxes.length; j++) {
        var a = boxes[i], b = boxes[j];
        if (a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.top < b.b - 0.5 && b.top < a.b - 0.5)
          overlaps.push([c + 1, a.t, b.t]);
      }
    out.push(boxes.length);
  }
  var pre = document.createElement('pre');
  pre.id = 'luxe-measure';
  pre.textContent = JSON.stringify({texts: out, overlaps: overlaps, width: window.innerWidth});
  document.body.appendChild(pre);
})();
</script>"""


def measure_overlaps(browser, html_path, width):
    """Render a measuring copy at width px; (result dict or None, error)."""
    tmp = tempfile.mkdtemp(prefix="luxe-measure-")
    copy = os.path.join(tmp, "measure.html")
    with open(html_path, encoding="utf-8") as f:
        page = f.read()
    with open(copy, "w", encoding="utf-8") as f:
        f.write(page.replace("</body>", MEASURE + "</body>") if "</body>" in page else page + MEASURE)
    profile = os.path.join(tmp, "profile")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--user-data-dir=" + profile, "--window-size=%d,%d" % (width, HEIGHT),
           "--dump-dom", pathlib.Path(copy).resolve().as_uri()]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        m = re.search(r'<pre id="luxe-measure">(.*?)</pre>', p.stdout, re.S)
        if not m:
            return None, "no measurement in the DOM (exit %d)" % p.returncode
        return json.loads(html.unescape(m.group(1))), None
    except (subprocess.TimeoutExpired, OSError, ValueError) as e:
        return None, str(e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = self.failed = 0

    def check(self, ok, name, detail=""):
        self.n += 1
        if not ok:
            self.failed += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n, name,
                                " (%s)" % detail if detail and not ok else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    ap.add_argument("html")
    ap.add_argument("expected", help="JSON list of strings the page text must contain")
    ap.add_argument("--svgs", type=int, default=4,
                    help="minimum number of top-level <svg> charts (default 4)")
    ap.add_argument("--no-render", action="store_true", help="static checks only")
    ap.add_argument("--screenshot", metavar="OUT.png", help="keep the screenshot here")
    ap.add_argument("--widths", type=lambda v: [int(x) for x in v.split(",")], default=[1000, 1280, 1600],
                    help="window widths at which no two labels of a chart may overlap")
    a = ap.parse_args()

    tap = Tap()
    with open(a.expected, encoding="utf-8") as f:
        expected = json.load(f)
    if not (isinstance(expected, list) and all(isinstance(s, str) for s in expected)):
        raise SystemExit("%s: expected a JSON list of strings" % a.expected)
    with open(a.html, encoding="utf-8") as f:
        source = f.read()

    page = Page()
    page.feed(source)
    page.close()
    problems = page.problems + css_problems("\n".join(page.styles), "<style>")
    tap.check(not problems, "self-contained: no external or separate-file references",
              "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))

    empty = [i + 1 for i, n in enumerate(page.svgs) if n == 0]
    tap.check(len(page.svgs) >= a.svgs and not empty,
              "%d top-level <svg> charts, each drawing shapes (need %d)"
              % (len(page.svgs), a.svgs),
              "svg number(s) %s draw nothing" % empty if empty else "too few")

    joined = [norm(" ".join(page.text)), norm("".join(page.text))]
    missing = [s for s in expected if not any(norm(s) in t for t in joined)]
    tap.check(not missing, "all %d expected strings appear in the page text" % len(expected),
              "missing %d: %s" % (len(missing), ", ".join(repr(s) for s in missing[:8])))

    if not a.no_render:
        browser = find_chromium()
        if browser is None:
            tap.check(False, "headless screenshot",
                      "no chromium found; apt-get install -y chromium, or set CHROMIUM")
        else:
            tmp = tempfile.mkdtemp(prefix="luxe-shot-")
            png = a.screenshot or os.path.join(tmp, "dashboard.png")
            if os.path.exists(png):
                os.unlink(png)
            secs, err = screenshot(browser, a.html, png)
            tap.check(err is None, "headless screenshot by %s in %.1f s"
                      % (os.path.basename(browser), secs), err)
            if err is None:
                try:
                    t0 = time.perf_counter()
                    w, h, bpp, rows = png_decode(open(png, "rb").read())
                    counts = colour_counts(w, bpp, rows)
                    decode_s = time.perf_counter() - t0
                    total = w * h
                    top, top_n = counts.most_common(1)[0]
                    big = sum(1 for n in counts.values() if n >= MIN_COLOUR_SHARE * total)
                    tap.check(big >= 3 and top_n <= MAX_DOMINANT_SHARE * total,
                              "screenshot %dx%d is not blank: %d colours, %d of them "
                              ">= %.2f %% of pixels, commonest %s covers %.1f %% "
                              "(decoded in %.1f s)"
                              % (w, h, len(counts), big, MIN_COLOUR_SHARE * 100,
                                 top.hex(), 100.0 * top_n / total, decode_s),
                              "looks blank")
                except (ValueError, zlib.error, IndexError) as e:
                    tap.check(False, "screenshot decodes", str(e))
            shutil.rmtree(tmp, ignore_errors=True)
            # no two labels of a chart overlap, from 1,000 to 1,600 px wide
            for width in a.widths:
                res, err = measure_overlaps(browser, a.html, width)
                if err:
                    tap.check(False, "labels measured at %d px" % width, err)
                    continue
                tap.check(not res["overlaps"] and sum(res["texts"]) > 0,
                          "no overlapping labels at %d px (%d texts in %d charts)"
                          % (width, sum(res["texts"]), len(res["texts"])),
                          "; ".join("chart %d: %r / %r" % tuple(o) for o in res["overlaps"][:6]))

    print("dashboard: %d passed, %d failed" % (tap.n - tap.failed, tap.failed))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
