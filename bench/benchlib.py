"""Helpers shared by the luxe_fdw benchmarks (run through bench/run.sh)."""
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "regress", "tools"))
from vestiaire_schema import COLDEFS  # noqa: E402,F401  (re-exported)

ROOT = os.environ.get("LUXE_ROOT", "")
URL = os.environ.get("LUXE_EMULATOR_URL", "")


def psql(sql, db="postgres"):
    """Run SQL in the benchmark cluster; its unaligned output."""
    return subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          capture_output=True, text=True, check=True).stdout


def timed_psql(sql):
    """(seconds, output) of one psql run."""
    t0 = time.perf_counter()
    out = psql(sql)
    return time.perf_counter() - t0, out


def generate(rows, seed, name):
    """Write a generated Vestiaire CSV as object vestiaire/<name>; its path."""
    path = os.path.join(ROOT, "vestiaire", *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print("generating %d rows..." % rows, flush=True)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "regress", "gen_vestiaire"),
                    "--rows", str(rows), "--seed", str(seed), "--out", path], check=True)
    os.chmod(os.path.dirname(path), 0o755)
    return path


class Bars:
    """The bars a benchmark measures itself against: each is printed as met or
    NOT met, and exit_status() is non-zero when one was missed, so a missed bar
    fails the benchmark run."""

    def __init__(self):
        self.missed = []

    def check(self, label, value, limit, ok, fmt="%.2f"):
        print(("bar: %s " + fmt + " (bar %s): %s") % (label, value, limit, "met" if ok else "NOT met"),
              flush=True)
        if not ok:
            self.missed.append(label)

    def exit_status(self):
        if self.missed:
            print("bars missed: %s" % ", ".join(self.missed))
        return 1 if self.missed else 0


def emulator(method, path, body=None):
    """An emulator call (REST or control endpoint); its JSON answer ({} when empty)."""
    req = urllib.request.Request(URL + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")
