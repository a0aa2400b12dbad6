"""The TAP-style runner shared by the Python conformance suites.

run_tests(tests) calls each test function in order and prints
"ok N - title", "ok N - title # SKIP why" or "not ok N - title" with the
last lines of the traceback; it returns (passed, failed, skipped).  A test
skips by raising Skip; a skip is counted apart, never as a pass, and
summary() prints the line the harness adds up: "LABEL: N passed, M failed,
K skipped".  The title is the first line of the docstring.
"""
import sys
import traceback


class Skip(Exception):
    pass


def run_tests(tests):
    passed = failed = skipped = 0
    for number, fn in enumerate(tests, 1):
        title = (fn.__doc__ or fn.__name__.replace("_", " ")).strip().splitlines()[0]
        try:
            fn()
        except Skip as why:
            skipped += 1
            print("ok %d - %s # SKIP %s" % (number, title, why))
        except Exception:  # noqa: BLE001 - report every failure the same way
            failed += 1
            print("not ok %d - %s" % (number, title))
            for line in traceback.format_exc().rstrip().splitlines()[-8:]:
                print("# " + line)
        else:
            passed += 1
            print("ok %d - %s" % (number, title))
        sys.stdout.flush()
    return passed, failed, skipped


def summary(label, passed, failed, skipped):
    print("%s: %d passed, %d failed, %d skipped" % (label, passed, failed, skipped))
