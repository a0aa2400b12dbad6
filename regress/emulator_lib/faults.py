"""Fault injection, modelled on googleapis/storage-testbench.

Instructions (one string each):

  return-NNN                      answer with HTTP status NNN and a Google error body
  return-NNN-retry-after-S        the same, with a `Retry-After: S` header
  return-NNN-after-YK             downloads: send the status line, headers and Y KiB of the
                                  body, then close the connection (the status is already on
                                  the wire, so NNN cannot be delivered); uploads: accept Y KiB
                                  of the request body (a resumable session keeps them), then
                                  answer NNN
  return-reset-connection         close the socket with a TCP RST and no response
  return-reset-after-processing   carry the request out in full (a job is created, an object
                                  written), then close the socket with a TCP RST instead of
                                  answering: the client cannot know that it succeeded
  return-broken-stream-after-YK   send Y KiB of the body (downloads) or read Y KiB of it
                                  (uploads), then close the connection abruptly
  stall-for-Ts-after-YK           after Y KiB of the body, sleep T seconds, then go on
                                  (on storage.objects.get, this and the other "after Y KiB"
                                  faults with Y > 0 wait for a media download: metadata
                                  requests pass them by)
  return-NNN-REASON               answer HTTP NNN with a Google error body whose errors[].reason
                                  is REASON, one of Google's reasons (_REASONS below), e.g.
                                  return-403-rateLimitExceeded,
                                  return-403-quotaExceeded, return-500-backendError
  pass                            nothing: lets the next instruction of the queue reach a later
                                  request of the operation (the chunk after a session start)
  return-truncated-json           answer the request (it is carried out) with its JSON body cut
                                  in half: a well-framed 2xx response whose body does not parse
  return-wrong-content-length     answer the request (it is carried out) with a Content-Length
                                  1 KiB larger than the body, then close the connection: the
                                  body ends early
  job-incomplete-N                BigQuery jobs.query / jobs.insert: the job created by this
                                  request answers jobComplete:false (state RUNNING) in this
                                  response and in its first N polls (getQueryResults, jobs.get)
  job-slow-Ts                     BigQuery jobs.query / jobs.insert: the job stays RUNNING for T
                                  seconds (getQueryResults waits up to its timeoutMs, then says
                                  jobComplete:false); jobs.cancel ends it early (reason stopped)

They are queued per operation (`storage.objects.get`, `bigquery.jobs.query`, ... -- Google's method
ids) and consumed one per matching
request, either from a retry test chosen by the `x-retry-test-id` request header, or, for
clients that cannot send custom headers, from a global queue. A request may also carry one
instruction of its own in `x-goog-emulator-instructions`.
"""

import re
import threading
import uuid


class Fault:
    """One parsed instruction.

    kind is 'error' (status, retry_after, reason), 'reset', 'reset-after' (the request is
    carried out, then the answer is dropped), 'truncate' and 'badlength' (the request is
    carried out, then its JSON answer is cut), 'break' (after_bytes, status or
    None), 'stall' (after_bytes, seconds) or 'job' (polls and/or seconds: handed to the
    BigQuery service, which applies it to the job the request creates).
    """

    def __init__(self, text, kind, status=None, retry_after=None, after_bytes=0, seconds=0.0,
                 reason=None, polls=0):
        self.text = text
        self.reason = reason
        self.polls = polls
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.after_bytes = after_bytes
        self.seconds = seconds


_KIB = 1024

# Google error reasons accepted by return-NNN-REASON (others stay unknown instructions).
_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "backendError",
            "internalError", "accessDenied", "responseTooLarge", "resourcesExceeded", "invalid",
            "invalidQuery", "notFound", "duplicate", "stopped", "resourceInUse", "forbidden",
            "badRequest", "timeout", "jobBackendError", "jobInternalError", "notImplemented",
            "required", "authError", "conflict", "billingNotEnabled", "blocked")

_GRAMMAR = [
    (re.compile(r"return-(\d{3})"),
     lambda t, m: Fault(t, "error", status=int(m[1]))),
    (re.compile(r"return-(\d{3})-retry-after-(\d+)s?"),
     lambda t, m: Fault(t, "error", status=int(m[1]), retry_after=int(m[2]))),
    (re.compile(r"return-(\d{3})-after-(\d+)K(?:iB)?"),
     lambda t, m: Fault(t, "break", status=int(m[1]), after_bytes=int(m[2]) * _KIB)),
    (re.compile(r"return-reset-connection"),
     lambda t, m: Fault(t, "reset")),
    (re.compile(r"return-reset-after-processing"),
     lambda t, m: Fault(t, "reset-after")),
    (re.compile(r"pass"),
     lambda t, m: Fault(t, "pass")),
    (re.compile(r"return-truncated-json"),
     lambda t, m: Fault(t, "truncate")),
    (re.compile(r"return-wrong-content-length"),
     lambda t, m: Fault(t, "badlength")),
    (re.compile(r"return-broken-stream-after-(\d+)K(?:iB)?"),
     lambda t, m: Fault(t, "break", after_bytes=int(m[1]) * _KIB)),
    (re.compile(r"stall-for-(\d+(?:\.\d+)?)s-after-(\d+)K(?:iB)?"),
     lambda t, m: Fault(t, "stall", seconds=float(m[1]), after_bytes=int(m[2]) * _KIB)),
    (re.compile(r"return-(\d{3})-(%s)" % "|".join(_REASONS)),
     lambda t, m: Fault(t, "error", status=int(m[1]), reason=m[2])),
    (re.compile(r"job-incomplete-(\d+)"),
     lambda t, m: Fault(t, "job", polls=int(m[1]))),
    (re.compile(r"job-slow-(\d+(?:\.\d+)?)s?"),
     lambda t, m: Fault(t, "job", seconds=float(m[1]))),
]


def parse_instruction(text):
    """Parse one instruction string; raise ValueError if it is not understood."""
    if not isinstance(text, str):
        raise ValueError("instructions must be strings")
    for pattern, build in _GRAMMAR:
        m = pattern.fullmatch(text.strip())
        if m:
            fault = build(text.strip(), m)
            if fault.status is not None and not 100 <= fault.status <= 599:
                raise ValueError("bad HTTP status in %r" % text)
            return fault
    raise ValueError("unknown fault instruction %r" % text)


def _parse_instruction_map(instructions):
    """Validate {"operation": ["instr", ...]} and return {operation: [Fault, ...]}."""
    if not isinstance(instructions, dict):
        raise ValueError('"instructions" must be an object of operation -> list of strings')
    parsed = {}
    for op, items in instructions.items():
        if not isinstance(items, list):
            raise ValueError("instructions for %s must be a list" % op)
        parsed[op] = [parse_instruction(i) for i in items]
    return parsed


class FaultRegistry:
    """The global queues and the testbench-style retry tests, shared by all threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._global = {}
        self._tests = {}

    # -- global queue (POST/GET/DELETE /_emulator/faults) --

    def install_global(self, instructions):
        parsed = _parse_instruction_map(instructions)
        with self._lock:
            for op, faults in parsed.items():
                self._global.setdefault(op, []).extend(faults)

    def clear_global(self):
        with self._lock:
            self._global.clear()

    def global_snapshot(self):
        with self._lock:
            return {op: [f.text for f in q] for op, q in self._global.items() if q}

    # -- retry tests (POST /retry_test, GET/DELETE /retry_test/ID, GET /retry_tests) --

    def create_test(self, instructions, transport="HTTP"):
        parsed = _parse_instruction_map(instructions)
        test_id = uuid.uuid4().hex
        with self._lock:
            self._tests[test_id] = {"transport": transport, "queues": parsed}
            return self._describe(test_id)

    def describe_test(self, test_id):
        with self._lock:
            return self._describe(test_id) if test_id in self._tests else None

    def delete_test(self, test_id):
        with self._lock:
            return self._tests.pop(test_id, None) is not None

    def list_tests(self):
        with self._lock:
            return [self._describe(t) for t in self._tests]

    def _describe(self, test_id):
        test = self._tests[test_id]
        remaining = {op: [f.text for f in q] for op, q in test["queues"].items()}
        return {"id": test_id, "instructions": remaining, "transport": test["transport"],
                "completed": not any(remaining.values())}

    # -- consumption --

    def take(self, operation, headers, accept=None):
        """The fault to apply to one request of `operation`, or None.

        accept, if given, says whether the next queued fault can apply to this
        request; one that cannot stays queued for a later request (a fault
        "after Y KiB of the body" waits for a download, past the metadata
        requests of the same operation).  Raises ValueError for a malformed
        per-request instruction header.
        """
        own = headers.get("x-goog-emulator-instructions")
        if own:
            return parse_instruction(own)
        test_id = headers.get("x-retry-test-id")
        with self._lock:
            if test_id:
                test = self._tests.get(test_id)
                queue = test["queues"].get(operation) if test else None
            else:
                queue = self._global.get(operation)
            if not queue or (accept is not None and not accept(queue[0])):
                return None
            return queue.pop(0)
