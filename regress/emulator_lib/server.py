"""HTTP core of the luxe emulator: a threading HTTP/1.1 server that dispatches requests to
API "services" (GCS, BigQuery, OAuth), with Google-style error bodies, bearer-token
authentication, fault injection and request statistics shared by all of them.

A service is any object with a method

    route(method, path, query) -> Route | None

where `path` is the raw (still percent-encoded) URL path and `query` the decoded query
parameters. The returned Route names the API operation (e.g. "storage.objects.get", used for
statistics and fault injection) and the function that handles the request:
`func(exchange, **kwargs)`; a Route with public=True is served without the bearer-token
check (the OAuth token endpoint and the metadata server, oauth.py). Handlers raise ApiError
for Google-style errors and use the Exchange helpers (send_json, start_response, write_body,
send_file_range, ...) to answer, so that injected faults and byte counts apply to every
service alike.

Simulated network latency (--latency MS, or at run time through /_emulator/latency): the
first byte of every API response (GCS, BigQuery, OAuth, the metadata server; an interim
"100 Continue" counts as the first byte) is sent MS milliseconds after it would have been.
The wait happens in the request's own thread (ThreadingHTTPServer: one per connection), so
concurrent requests wait in parallel and a benchmark of many small requests sees cloud-like
round trips. Control endpoints (/_emulator/..., /retry_test...) are never delayed.

Control endpoints, never authenticated nor counted:
  GET    /_emulator/health
  GET    /_emulator/latency          {"ms": N}
  POST   /_emulator/latency          {"ms": N}: set the added latency (0 turns it off)
  GET    /_emulator/stats            {"requests": {op: n}, "totalRequests": n, "bytesSent": n}
  POST   /_emulator/stats/reset
  GET    /_emulator/faults           remaining global instructions
  POST   /_emulator/faults           {"instructions": {op: [instr, ...]}} (appended)
  DELETE /_emulator/faults
  DELETE /_emulator/tokens           revoke every issued OAuth token (--require-token ones stay)
  POST   /retry_test                 testbench Retry Test API; GET /retry_tests,
  GET    /retry_test/ID              DELETE /retry_test/ID
  and those of services with a control(exchange) method (bigquery.py: /_emulator/bigquery/...)
"""

import json
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .faults import FaultRegistry

# `public` routes (the OAuth token endpoint, the metadata server) skip the bearer-token check.
Route = namedtuple("Route", "operation func kwargs public", defaults=(False,))

# Default `reason` for each status, as GCS reports them.
_REASONS = {
    400: "invalid", 401: "required", 403: "forbidden", 404: "notFound", 405: "methodNotAllowed",
    408: "requestTimeout", 409: "conflict", 411: "lengthRequired", 412: "conditionNotMet",
    416: "requestedRangeNotSatisfiable", 429: "rateLimitExceeded", 499: "clientClosedRequest",
    500: "internalError", 501: "notImplemented", 502: "badGateway", 503: "backendError",
    504: "gatewayTimeout",
}


# google.rpc status names, which BigQuery puts in error bodies as "status".
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED",
           499: "CANCELLED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE",
           504: "DEADLINE_EXCEEDED"}


class ApiError(Exception):
    """An error answered as {"error": {"code", "message", "errors": [{domain, reason, ...}]}}.

    `error_fields` go into the errors[] entry (e.g. locationType/location), `extra` into the
    top-level error object (a BigQuery service may add "status": "NOT_FOUND").
    """

    def __init__(self, code, message, reason=None, headers=None, error_fields=None, extra=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "error")
        self.headers = headers or {}
        self.error_fields = error_fields or {}
        self.extra = extra or {}

    def body(self):
        entry = {"domain": "global", "reason": self.reason, "message": self.message}
        entry.update(self.error_fields)
        error = {"code": self.code, "message": self.message, "errors": [entry]}
        error.update(self.extra)
        return {"error": error}


class AbortConnection(Exception):
    """Stop the exchange and drop the connection: with a TCP RST if `rst`, else a FIN."""

    def __init__(self, rst=False):
        super().__init__("connection aborted")
        self.rst = rst


class BodyReader:
    """The request body, read incrementally (Content-Length or chunked transfer coding)."""

    def __init__(self, rfile, headers):
        self._rfile = rfile
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self._chunk_left = 0
        self.remaining = 0
        if not self.chunked:
            try:
                self.remaining = int(headers.get("Content-Length") or 0)
            except ValueError:
                raise ApiError(400, "Invalid Content-Length header") from None
            if self.remaining < 0:
                raise ApiError(400, "Invalid Content-Length header")
        self.done = not self.chunked and self.remaining == 0

    @property
    def present(self):
        return self.chunked or self.remaining > 0

    def read(self, size=1 << 20):
        """Up to `size` bytes; b"" at the end of the body."""
        if self.done:
            return b""
        if not self.chunked:
            data = self._rfile.read(min(size, self.remaining))
            if not data:
                raise AbortConnection()  # the client went away mid-body
            self.remaining -= len(data)
            self.done = self.remaining == 0
            return data
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            try:
                self._chunk_left = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise AbortConnection() from None
            if self._chunk_left == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                self.done = True
                return b""
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise AbortConnection()
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile.readline(1024)  # CRLF after the chunk data
        return data

    def drain(self):
        while self.read():
            pass


class Stats:
    """Request counts per operation and body bytes sent."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = {}
        self._bytes = 0

    def count(self, operation):
        with self._lock:
            self._requests[operation] = self._requests.get(operation, 0) + 1

    def add_bytes(self, n):
        with self._lock:
            self._bytes += n

    def snapshot(self):
        with self._lock:
            return {"requests": dict(self._requests),
                    "totalRequests": sum(self._requests.values()),
                    "bytesSent": self._bytes}

    def reset(self):
        with self._lock:
            self._requests.clear()
            self._bytes = 0


class Auth:
    """Bearer-token check shared by every service.

    With required=False any (or no) Authorization header is accepted. Otherwise the token
    must be one of `tokens` (--require-token, valid forever) or one issued through
    add_token(), the hook of the OAuth token endpoint and the metadata server (oauth.py),
    and not yet expired. Unknown and expired tokens both get 401 authError "Invalid
    Credentials", as from Google.
    """

    def __init__(self, required=False, tokens=()):
        self._lock = threading.Lock()
        self.required = required
        self._tokens = {t: None for t in tokens}  # token -> time.monotonic() expiry, or None

    def add_token(self, token, lifetime=None):
        """Accept `token` from now on, for `lifetime` seconds (None: for ever)."""
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) > 1000:  # forget long-expired tokens (same answer: 401)
                self._tokens = {t: e for t, e in self._tokens.items() if e is None or e > now}
            self._tokens[token] = None if lifetime is None else now + lifetime

    def revoke_issued(self):
        """Forget every token added with a lifetime (issued ones); the number forgotten."""
        with self._lock:
            issued = [t for t, e in self._tokens.items() if e is not None]
            for t in issued:
                del self._tokens[t]
            return len(issued)

    def valid(self, token):
        with self._lock:
            if token not in self._tokens:
                return False
            expiry = self._tokens[token]
        return expiry is None or time.monotonic() < expiry

    def check(self, exchange):
        if not self.required:
            return
        scheme, _, token = exchange.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Login Required", "required",
                           headers={"WWW-Authenticate": 'Bearer realm="luxe-emulator"'},
                           error_fields={"locationType": "header", "location": "Authorization"})
        if not self.valid(token.strip()):
            raise ApiError(401, "Invalid Credentials", "authError",
                           headers={"WWW-Authenticate": 'Bearer realm="luxe-emulator", error="invalid_token"'},
                           error_fields={"locationType": "header", "location": "Authorization"})


class Exchange(BaseHTTPRequestHandler):
    """One connection; each request on it is dispatched by _dispatch()."""

    protocol_version = "HTTP/1.1"
    server_version = "luxe-emulator/1.0"
    sys_version = ""

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
        # client's delayed ACK would add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # -- request side --

    @property
    def base_url(self):
        """http://host:port as the client addressed us, for links in responses."""
        host = self.headers.get("Host")
        if not host:
            host = "%s:%d" % self.server.server_address[:2]
        return "http://" + host

    def read_body(self, size=1 << 20):
        """Read request-body bytes, applying a pending request-side fault."""
        if self._fault is None or not self._fault_on_request:
            return self.body.read(size)
        left = self._fault.after_bytes - self._body_read
        if left <= 0:
            self._fire_request_fault()
            return self.body.read(size)
        data = self.body.read(min(size, left))
        self._body_read += len(data)
        return data

    def read_all(self):
        chunks = []
        while True:
            data = self.read_body()
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def read_json(self):
        """The body as a JSON object ({} when empty); 400 when it is not JSON."""
        raw = self.read_all()
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Parse Error", "parseError") from None
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid JSON payload: expected an object")
        return value

    def _fire_request_fault(self):
        fault, self._fault = self._fault, None
        if fault.kind == "stall":
            time.sleep(fault.seconds)
        elif fault.status is None:
            raise AbortConnection(rst=True)
        else:
            raise ApiError(fault.status, "Fault injected: %s" % fault.text)

    # -- response side --

    def parse_request(self):
        self._latency_due = True
        return super().parse_request()

    def _apply_latency(self):
        """Wait out the simulated latency once per request, before its first response byte."""
        if not getattr(self, "_latency_due", False):
            return
        self._latency_due = False
        if urlsplit(self.path).path.startswith(("/_emulator/", "/retry_test")):
            return
        ms = self.server.latency_ms
        if ms > 0:
            time.sleep(ms / 1000.0)

    def handle_expect_100(self):
        self._apply_latency()
        return super().handle_expect_100()

    def start_response(self, status, headers=()):
        """Send the status line and headers (a list of pairs or a dict)."""
        if getattr(self, "_drop_answer", False):
            self._drop_answer = False
            raise AbortConnection(rst=True)
        self._apply_latency()
        self.send_response(status)
        for key, value in (headers.items() if isinstance(headers, dict) else headers):
            # http.server encodes headers as Latin-1; send non-Latin-1 text as raw UTF-8.
            self.send_header(key, str(value).encode("utf-8").decode("latin-1"))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.response_started = True

    def _response_window(self):
        """Bytes that may still be sent before a pending response fault fires, or None."""
        if self._fault is None or self._fault_on_request:
            return None
        return max(0, self._fault.after_bytes - self.sent_bytes)

    def _fire_response_fault(self):
        fault, self._fault = self._fault, None
        if fault.kind == "stall":
            time.sleep(fault.seconds)
        else:
            raise AbortConnection()

    def write_body(self, data, chunked=False):
        """Send body bytes (framed as one chunk each when `chunked`)."""
        view = memoryview(data).cast("B")
        while len(view):
            window = self._response_window()
            piece = view if window is None else view[:window]
            if len(piece):
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                self._sent(len(piece))
                view = view[len(piece):]
            if window is not None and window <= len(piece):
                self._fire_response_fault()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")

    def send_file_range(self, fileobj, offset, count):
        """Send `count` bytes of `fileobj` from `offset` with sendfile(2)."""
        while count > 0:
            window = self._response_window()
            n = count if window is None else min(count, window)
            if n:
                sent = self.connection.sendfile(fileobj, offset, n)
                if sent == 0:
                    raise AbortConnection()  # file shrank under us: the length is promised
                self._sent(sent)
                offset += sent
                count -= sent
            if window is not None and window <= n:
                self._fire_response_fault()

    def _sent(self, n):
        self.sent_bytes += n
        self.server.stats.add_bytes(n)

    def send_bytes(self, status, data, content_type, headers=()):
        body_fault, self._body_fault = getattr(self, "_body_fault", None), None
        length = len(data)
        if body_fault is not None and body_fault.kind == "truncate":
            data = data[:len(data) // 2]
            length = len(data)
        elif body_fault is not None and body_fault.kind == "badlength":
            length = len(data) + 1024
        hdrs = [("Content-Type", content_type), ("Content-Length", length)]
        hdrs.extend(headers.items() if isinstance(headers, dict) else headers)
        self.start_response(status, hdrs)
        self.write_body(data)
        if body_fault is not None and body_fault.kind == "badlength":
            raise AbortConnection()

    def send_json(self, status, obj, headers=()):
        # Google pretty-prints JSON unless the request says prettyPrint=false
        if getattr(self, "query", {}).get("prettyPrint", "true").lower() == "false":
            data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        else:
            data = json.dumps(obj, ensure_ascii=False, indent=1).encode("utf-8")
        self.send_bytes(status, data, "application/json; charset=UTF-8", headers)

    def send_empty(self, status, headers=()):
        hdrs = list(headers.items() if isinstance(headers, dict) else headers)
        if status != 304:
            hdrs.append(("Content-Length", "0"))
        self.start_response(status, hdrs)

    def send_error_json(self, err):
        if err.code == 304:  # a failed *NotMatch precondition on a read: no body
            self.send_empty(304, err.headers)
            return
        headers = dict(err.headers)
        headers.setdefault("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
        self.send_json(err.code, err.body(), headers)

    # -- dispatch --

    def _dispatch(self):
        self.response_started = False
        self.sent_bytes = 0
        self._fault = None
        self.job_fault = None
        self._fault_on_request = False
        self._body_read = 0
        url = urlsplit(self.path)
        self.raw_path = url.path
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            self.body = BodyReader(self.rfile, self.headers)
        except ApiError as err:
            self.close_connection = True
            self.send_error_json(err)
            return
        try:
            self._run()
            if not self.body.done:
                self.body.drain()
        except AbortConnection as abort:
            self._drop(abort.rst)
        except (ConnectionError, TimeoutError):  # the client went away
            self.close_connection = True

    def _run(self):
        try:
            if not self.server.control(self):
                self._run_service()
        except (AbortConnection, ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Google error body
            err = exc if isinstance(exc, ApiError) else None
            if err is None:  # a bug in the emulator: report it, answer 500, keep serving
                traceback.print_exc(file=sys.stderr)
                err = ApiError(500, "Internal error in the emulator")
            if self.response_started:
                raise AbortConnection() from None
            if not self.body.done:
                self.body.drain()  # closing with unread input would reset the socket
            self.send_error_json(err)

    def _run_service(self):
        for service in self.server.services:
            route = service.route(self.command, self.raw_path, self.query)
            if route is not None:
                break
        else:
            raise ApiError(404, "Not Found")
        if not route.public:
            self.server.auth.check(self)
        self.server.stats.count(route.operation)
        try:
            accept = None
            if route.operation == "storage.objects.get" and self.query.get("alt") != "media":
                # byte-offset faults are for downloads, not object metadata
                def accept(f):
                    return not (f.kind in ("stall", "break") and f.after_bytes > 0)
            fault = self.server.faults.take(route.operation, self.headers, accept)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        self._drop_answer = False
        self._body_fault = None
        if fault is not None and fault.kind == "pass":
            fault = None
        if fault is not None:
            if fault.kind == "reset":
                raise AbortConnection(rst=True)
            if fault.kind == "reset-after":  # processed below, then the answer is dropped
                self._drop_answer = True
            elif fault.kind == "error":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                extra = {}
                if route.operation.startswith("bigquery."):  # BigQuery bodies carry "status"
                    extra["status"] = _STATUS.get(fault.status, "UNKNOWN")
                raise ApiError(fault.status, "Fault injected: %s" % fault.text, fault.reason,
                               headers=headers, extra=extra)
            if fault.kind in ("job", "reset-after", "truncate", "badlength"):
                # applied by the service, start_response or send_bytes
                if fault.kind == "job":
                    self.job_fault = fault
                elif fault.kind in ("truncate", "badlength"):
                    self._body_fault = fault
                fault = None
            self._fault = fault
            # A request that carries a body (an upload) is faulted on the way in.
            self._fault_on_request = fault is not None and self.body.present
        route.func(self, **route.kwargs)

    def _drop(self, rst):
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, verbose=False, auth=None, latency_ms=0):
        self.services = []
        self.faults = FaultRegistry()
        self.stats = Stats()
        self.auth = auth or Auth()
        self.verbose = verbose
        self.latency_ms = latency_ms  # added before the first byte of each API response
        super().__init__(address, Exchange)

    def server_bind(self):
        # HTTPServer.server_bind would resolve our name with getfqdn(); stay off DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def add_service(self, service):
        self.services.append(service)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) and not self.verbose:
            return  # a client dropping its connection is routine
        super().handle_error(request, client_address)

    # -- control endpoints --

    def control(self, ex):
        """Answer a control endpoint; False if the path is not one."""
        path, method = ex.raw_path.rstrip("/"), ex.command
        if path == "/_emulator/health" and method == "GET":
            ex.send_json(200, {"status": "ok"})
        elif path == "/_emulator/latency" and method == "GET":
            ex.send_json(200, {"ms": self.latency_ms})
        elif path == "/_emulator/latency" and method == "POST":
            body = ex.read_json()
            ms = body.get("ms")
            if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms <= 600000:
                raise ApiError(400, "Expected {\"ms\": N} with 0 <= N <= 600000")
            self.latency_ms = float(ms) if ms != int(ms) else int(ms)
            ex.send_json(200, {"ms": self.latency_ms})
        elif path == "/_emulator/stats" and method == "GET":
            ex.send_json(200, self.stats.snapshot())
        elif path == "/_emulator/stats/reset" and method == "POST":
            self.stats.reset()
            ex.send_json(200, self.stats.snapshot())
        elif path == "/_emulator/faults" and method == "GET":
            ex.send_json(200, {"instructions": self.faults.global_snapshot()})
        elif path == "/_emulator/faults" and method == "POST":
            body = ex.read_json()
            try:
                self.faults.install_global(body.get("instructions"))
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            ex.send_json(200, {"instructions": self.faults.global_snapshot()})
        elif path == "/_emulator/faults" and method == "DELETE":
            self.faults.clear_global()
            ex.send_json(200, {"instructions": {}})
        elif path == "/_emulator/tokens" and method == "DELETE":
            ex.send_json(200, {"revoked": self.auth.revoke_issued()})
        elif path == "/retry_test" and method == "POST":
            body = ex.read_json()
            try:
                test = self.faults.create_test(body.get("instructions"), body.get("transport", "HTTP"))
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            ex.send_json(200, test)
        elif path == "/retry_tests" and method == "GET":
            ex.send_json(200, {"retry_test": self.faults.list_tests()})
        elif path.startswith("/retry_test/") and method in ("GET", "DELETE"):
            test_id = path[len("/retry_test/"):]
            test = self.faults.describe_test(test_id)
            if test is None:
                raise ApiError(404, "Retry Test %s not found" % test_id)
            if method == "DELETE":
                self.faults.delete_test(test_id)
            ex.send_json(200, test)
        else:
            # a service's own control endpoints (e.g. /_emulator/bigquery/...)
            return any(getattr(service, "control", None) and service.control(ex) for service in self.services)
        return True
