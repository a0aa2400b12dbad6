"""Google Cloud Storage JSON API v1 over the filesystem store (see gcs_store.py).

Paths accepted (object names are one percent-encoded segment; a raw '/' is accepted too):
  /storage/v1/b/...  and  /b/...                 buckets and objects
  /download/storage/v1/b/{b}/o/{o}               media download
  /upload/storage/v1/b/{b}/o, /upload/b/{b}/o and (gcloud's resumable form)
  /resumable/upload/storage/v1/b/{b}/o            uploads (media, multipart, resumable)

Implemented: buckets.list/get/insert/delete/getStorageLayout; objects.list (prefix,
delimiter, matchGlob, startOffset/endOffset, includeTrailingDelimiter, maxResults,
pageToken, fields), objects.get (metadata; media with Range, conditions and gzip
transcoding), objects.insert, objects.patch, objects.delete, objects.compose.
"""

import base64
import binascii
import json
import os
import re
import threading
import uuid
import zlib
from email.utils import formatdate
from urllib.parse import quote, unquote

from .gcs_store import ObjectHasher, RESOURCE_FIELDS, check_preconditions, rfc3339, validate_object_name
from .server import AbortConnection, ApiError, Route

MAX_PAGE = 1000
RESUMABLE_QUANTUM = 256 * 1024  # non-final resumable chunks are multiples of this
_PRECONDITIONS = ("ifGenerationMatch", "ifGenerationNotMatch",
                  "ifMetagenerationMatch", "ifMetagenerationNotMatch")
_UPLOAD_USAGE = "Upload requests must include an uploadType URL parameter and a URL-encoded object name."


# ---------------------------------------------------------------------------------------------
# matchGlob
# ---------------------------------------------------------------------------------------------

def compile_glob(pattern):
    """Compile a matchGlob pattern to a regular expression over whole object names.

    `*` matches within one '/'-separated segment, `**` across segments (and `**/` also
    matches zero segments), `?` one character other than '/', `[abc]`, `[a-z]`, `[!a-z]`
    classes, `{a,b}` alternatives (nestable), and a backslash escapes the next character.
    """
    try:
        return re.compile(r"\A" + _glob_regex(pattern, True) + r"\Z", re.DOTALL)
    except re.error:
        raise ApiError(400, "Invalid matchGlob: %s" % pattern) from None


def _glob_regex(p, at_segment_start):
    out, i, n = [], 0, len(p)
    while i < n:
        c = p[i]
        if c == "*":
            if p.startswith("**", i):
                segment_start = at_segment_start if i == 0 else p[i - 1] == "/"
                i += 2
                if segment_start and p.startswith("/", i):
                    out.append("(?:.*/)?")  # "**/" spans zero or more whole segments
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end, cls = _glob_class(p, i)
            if cls is None:
                out.append(re.escape(c))
            else:
                out.append(cls)
                i = end
                continue
        elif c == "{":
            end, alternatives = _glob_braces(p, i)
            if alternatives is None:
                out.append(re.escape(c))
            else:
                segment_start = at_segment_start if i == 0 else p[i - 1] == "/"
                out.append("(?:" + "|".join(_glob_regex(a, segment_start) for a in alternatives) + ")")
                i = end
                continue
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(p[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _glob_class(p, i):
    """Parse a [...] class at p[i]; (index after it, regex) or (i, None) if unterminated."""
    j = i + 1
    negate = j < len(p) and p[j] in "!^"
    if negate:
        j += 1
    start = j
    if j < len(p) and p[j] == "]":
        j += 1  # a leading ']' is literal
    while j < len(p) and p[j] != "]":
        j += 1
    if j >= len(p):
        return i, None
    body, parts, k = p[start:j], [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            parts.append(re.escape(body[k]) + "-" + re.escape(body[k + 2]))
            k += 3
        else:
            parts.append(re.escape(body[k]))
            k += 1
    cls = "".join(parts)
    return j + 1, ("[^/" + cls + "]" if negate else "[" + cls + "]")


def _glob_braces(p, i):
    """Split a {a,b,...} group at p[i] on its top-level commas; (end, list) or (i, None)."""
    depth, j, items, start = 0, i, [], i + 1
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                items.append(p[start:j])
                return j + 1, items
        elif c == "," and depth == 1:
            items.append(p[start:j])
            start = j + 1
        j += 1
    return i, None


# ---------------------------------------------------------------------------------------------
# Partial responses: the `fields` parameter
# ---------------------------------------------------------------------------------------------

def parse_fields(text):
    """Parse e.g. "items(name,size),nextPageToken" or "items/name" into a selection tree.

    The tree maps a field name to a sub-tree, or to None for the whole field; None as a
    whole means no selection (everything).
    """
    if not text:
        return None
    token = re.compile(r"[^,/()]+")
    pos = 0

    def fail():
        raise ApiError(400, "Invalid field selection %s" % text)

    def element():
        nonlocal pos
        m = token.match(text, pos)
        if not m:
            fail()
        pos = m.end()
        name = m.group().strip()
        if text.startswith("/", pos):  # "a/b" is "a(b)"
            pos += 1
            sub_name, sub = element()
            return name, {sub_name: sub}
        if text.startswith("(", pos):
            pos += 1
            sub = selection()
            if not text.startswith(")", pos):
                fail()
            pos += 1
            return name, sub
        return name, None

    def selection():
        nonlocal pos
        tree = {}
        while True:
            _merge_selection(tree, *element())
            if not text.startswith(",", pos):
                return tree
            pos += 1

    tree = selection()
    if pos != len(text):
        fail()
    return tree


def _merge_selection(tree, name, sub):
    if name not in tree:
        tree[name] = sub
    elif tree[name] is None or sub is None:
        tree[name] = None
    else:
        for k, v in sub.items():
            _merge_selection(tree[name], k, v)


def apply_fields(value, tree):
    if tree is None:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if isinstance(value, dict):
        if "*" in tree:
            return value
        return {k: apply_fields(v, tree[k]) for k, v in value.items() if k in tree}
    return value


def fields_want(tree, *path):
    """Whether the selection includes the field at `path`."""
    for name in path:
        if tree is None or "*" in tree:
            return True
        if name not in tree:
            return False
        tree = tree[name]
    return True


# ---------------------------------------------------------------------------------------------
# Request helpers
# ---------------------------------------------------------------------------------------------

def _unquote(segment):
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid UTF-8 in the request path") from None


def _int_param(query, key):
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "Invalid value for %s: %s" % (key, value)) from None


def _preconditions(query):
    return {k: v for k in _PRECONDITIONS if (v := _int_param(query, k)) is not None}


def _header_params(value):
    """'multipart/related; boundary="x"' -> ('multipart/related', {'boundary': 'x'})."""
    main, *params = value.split(";")
    result = {}
    for param in params:
        key, _, val = param.partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]  # gcloud single-quotes the boundary
        result[key.strip().lower()] = val
    return main.strip().lower(), result


def parse_multipart(body, boundary):
    """Split a multipart body into [(headers, content)]; CRLF or bare-LF line breaks."""
    delim = b"--" + boundary.encode("latin-1")
    pos = body.find(delim)
    if not boundary or pos < 0:
        raise ApiError(400, "Invalid multipart request: boundary not found")
    parts, crlf = [], None
    while True:
        pos += len(delim)
        if body.startswith(b"--", pos):
            return parts
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ApiError(400, "Invalid multipart request: truncated")
        if crlf is None:
            crlf = body[eol - 1:eol] == b"\r"
        pos = eol + 1
        headers = {}
        while True:
            eol = body.find(b"\n", pos)
            if eol < 0:
                raise ApiError(400, "Invalid multipart request: truncated headers")
            line = body[pos:eol].rstrip(b"\r")
            pos = eol + 1
            if not line:
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        nxt = body.find(b"\n" + delim, pos - 1)
        if nxt < 0:
            raise ApiError(400, "Invalid multipart request: missing closing boundary")
        end = nxt - 1 if crlf and nxt > pos and body[nxt - 1:nxt] == b"\r" else nxt
        parts.append((headers, body[pos:max(pos, end)]))
        pos = nxt + 1


def parse_range(header, size):
    """(start, end) inclusive, None for the whole object, or "unsatisfiable"."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if not m or (m[1] == "" and m[2] == ""):
        return None
    if m[1] == "":
        suffix = int(m[2])
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(m[1])
    if m[2] and int(m[2]) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        return "unsatisfiable"
    return start, min(int(m[2]) if m[2] else size - 1, size - 1)


def _accepts_gzip(header):
    for item in (header or "").split(","):
        token, _, params = item.partition(";")
        if token.strip().lower() in ("gzip", "*"):
            q = re.search(r"q\s*=\s*(\d+(?:\.\d*)?)", params)
            return not (q and float(q[1]) == 0)
    return False


def _parse_hash_header(value):
    """'crc32c=AAAA==,md5=BBBB==' -> {'crc32c': 'AAAA==', 'md5': 'BBBB=='}."""
    result = {}
    for item in (value or "").split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            result[key.strip().lower()] = val.strip()
    return result


def _verify_digests(digests, header, resource):
    """400 when X-Goog-Hash or the metadata's md5Hash/crc32c disagree with the data."""
    md5, crc = digests
    claimed = _parse_hash_header(header)
    for source in (claimed.get("crc32c"), resource.get("crc32c")):
        if source is not None and source != crc:
            raise ApiError(400, 'Provided CRC32C "%s" doesn\'t match calculated CRC32C "%s".' % (source, crc))
    for source in (claimed.get("md5"), resource.get("md5Hash")):
        if source is not None and source != md5:
            raise ApiError(400, 'Provided MD5 hash "%s" doesn\'t match calculated MD5 hash "%s".' % (source, md5))


class UploadSession:
    """State of one resumable upload; bytes persisted so far live in `path`."""

    def __init__(self, bucket, name, resource, preconditions, path):
        self.id = uuid.uuid4().hex
        self.bucket = bucket
        self.name = name
        self.resource = resource
        self.preconditions = preconditions
        self.path = path
        self.persisted = 0
        self.hasher = ObjectHasher()
        self.result = None  # the object resource once finalised
        self.lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------

class GcsService:
    def __init__(self, store):
        self.store = store
        self._sessions = {}
        self._sessions_lock = threading.Lock()

    # -- routing --

    def route(self, method, path, query):
        for prefix, mode in (("/download/storage/v1", "download"), ("/upload/storage/v1", "upload"),
                             ("/resumable/upload/storage/v1", "upload"), ("/upload", "upload"),
                             ("/storage/v1", "json"), ("", "json")):
            if path.startswith(prefix + "/b/") or path == prefix + "/b":
                path = path[len(prefix):]
                break
        else:
            return None
        segs = path.split("/")[1:]  # ["b", bucket, "o", object...]
        if segs == ["b"] or segs == ["b", ""]:
            if mode != "json":
                return None
            if method == "GET":
                return Route("storage.buckets.list", self.list_buckets, {})
            if method == "POST":
                return Route("storage.buckets.insert", self.insert_bucket, {})
            return None
        bucket = _unquote(segs[1])
        if len(segs) == 2:
            if mode != "json":
                return None
            if method == "GET":
                return Route("storage.buckets.get", self.get_bucket, {"bucket": bucket})
            if method == "DELETE":
                return Route("storage.buckets.delete", self.delete_bucket, {"bucket": bucket})
            return None
        if segs[2:] == ["storageLayout"] and mode == "json" and method == "GET":
            return Route("storage.buckets.getStorageLayout", self.get_storage_layout, {"bucket": bucket})
        if segs[2] != "o":
            return None
        if mode == "upload":
            if len(segs) != 3:
                return None
            if "upload_id" in query and method in ("PUT", "POST", "DELETE"):
                return Route("storage.objects.insert", self.resumable_chunk, {"bucket": bucket})
            if method == "POST":
                return Route("storage.objects.insert", self.insert_object, {"bucket": bucket})
            return None
        rest = segs[3:]
        if not rest or rest == [""]:
            if mode == "json" and method == "GET":
                return Route("storage.objects.list", self.list_objects, {"bucket": bucket})
            return None
        if mode == "download":
            if method != "GET":
                return None
            return Route("storage.objects.get", self.get_object,
                         {"bucket": bucket, "name": _unquote("/".join(rest)), "media": True})
        if method == "POST" and len(rest) > 1 and rest[-1] == "compose":
            return Route("storage.objects.compose", self.compose,
                         {"bucket": bucket, "name": _unquote("/".join(rest[:-1]))})
        name = _unquote("/".join(rest))
        handlers = {"GET": ("storage.objects.get", self.get_object),
                    "DELETE": ("storage.objects.delete", self.delete_object),
                    "PATCH": ("storage.objects.patch", self.patch_object)}
        if method not in handlers:
            return None
        operation, func = handlers[method]
        kwargs = {"bucket": bucket, "name": name}
        if method == "GET":
            kwargs["media"] = False
        return Route(operation, func, kwargs)

    # -- resources --

    def bucket_resource(self, ex, bucket, st):
        created = min(st.st_mtime_ns, st.st_ctime_ns)
        return {
            "kind": "storage#bucket",
            "selfLink": "%s/storage/v1/b/%s" % (ex.base_url, quote(bucket, safe="")),
            "id": bucket,
            "name": bucket,
            "projectNumber": "0",
            "metageneration": "1",
            "location": "US",
            "storageClass": "STANDARD",
            "etag": "CAE=",
            "timeCreated": rfc3339(created),
            "updated": rfc3339(created),
            "locationType": "multi-region",
            "rpo": "DEFAULT",
            "iamConfiguration": {
                "bucketPolicyOnly": {"enabled": False},
                "uniformBucketLevelAccess": {"enabled": False},
                "publicAccessPrevention": "inherited",
            },
        }

    def object_resource(self, ex, info, want_hashes=True, fileobj=None, digests=None):
        qb, qn = quote(info.bucket, safe=""), quote(info.name, safe="")
        r = {
            "kind": "storage#object",
            "id": "%s/%s/%d" % (info.bucket, info.name, info.generation),
            "selfLink": "%s/storage/v1/b/%s/o/%s" % (ex.base_url, qb, qn),
            "mediaLink": "%s/download/storage/v1/b/%s/o/%s?generation=%d&alt=media"
                         % (ex.base_url, qb, qn, info.generation),
            "name": info.name,
            "bucket": info.bucket,
            "generation": str(info.generation),
            "metageneration": str(info.metageneration),
            "contentType": info.resource["contentType"],
            "storageClass": "STANDARD",
            "size": str(info.size),
        }
        if want_hashes:
            md5, crc = digests or self.store.hashes(info, fileobj)
            if not info.component_count:
                r["md5Hash"] = md5  # composite objects have no MD5
            r["crc32c"] = crc
        if info.component_count:
            r["componentCount"] = info.component_count
        r["etag"] = info.etag()
        r["timeCreated"] = info.time_created
        r["updated"] = info.updated
        r["timeStorageClassUpdated"] = info.time_created
        for field in RESOURCE_FIELDS:
            if field != "contentType" and field in info.resource:
                r[field] = info.resource[field]
        return r

    # -- buckets --

    def list_buckets(self, ex):
        if not ex.query.get("project"):
            raise ApiError(400, "Required parameter: project", "required")
        prefix = ex.query.get("prefix", "")
        names = [b for b in self.store.buckets() if b.startswith(prefix)]
        start = ex.query.get("pageToken")
        if start:
            names = [b for b in names if b > _decode_token(start)[0]]
        limit = _page_size(ex.query)
        page = names[:limit]
        items = []
        for name in page:
            st = self.store.bucket_stat(name)
            if st is not None:
                items.append(self.bucket_resource(ex, name, st))
        body = {"kind": "storage#buckets"}
        if len(names) > limit:
            body["nextPageToken"] = _encode_token(page[-1], 0)
        if items:
            body["items"] = items
        ex.send_json(200, apply_fields(body, parse_fields(ex.query.get("fields"))))

    def get_bucket(self, ex, bucket):
        st = self.store.bucket_stat(bucket)
        if st is None:
            raise ApiError(404, "The specified bucket does not exist.")
        ex.send_json(200, apply_fields(self.bucket_resource(ex, bucket, st), parse_fields(ex.query.get("fields"))))

    def get_storage_layout(self, ex, bucket):
        self.store.require_bucket(bucket)  # gcloud asks before recursive deletes
        ex.send_json(200, {"kind": "storage#storageLayout", "bucket": bucket, "location": "US",
                           "locationType": "multi-region", "hierarchicalNamespace": {"enabled": False}})

    def insert_bucket(self, ex):
        if not ex.query.get("project"):
            raise ApiError(400, "Required parameter: project", "required")
        body = ex.read_json()
        name = body.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]", name):
            raise ApiError(400, "Invalid bucket name: '%s'" % name)
        self.store.create_bucket(name)
        ex.send_json(200, self.bucket_resource(ex, name, self.store.bucket_stat(name)))

    def delete_bucket(self, ex, bucket):
        self.store.delete_bucket(bucket)
        ex.send_empty(204)

    # -- objects.list --

    def list_objects(self, ex, bucket):
        self.store.require_bucket(bucket)
        q = ex.query
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        glob = compile_glob(q["matchGlob"]) if q.get("matchGlob") else None
        start_offset, end_offset = q.get("startOffset", ""), q.get("endOffset", "")
        trailing = q.get("includeTrailingDelimiter", "").lower() == "true"
        limit = _page_size(q)
        after = _decode_token(q["pageToken"]) if q.get("pageToken") else None
        fields = parse_fields(q.get("fields"))

        items, prefixes = [], set()
        for info in self.store.iter_objects(bucket):
            name = info.name
            if not name.startswith(prefix):
                continue
            if (start_offset and name < start_offset) or (end_offset and name >= end_offset):
                continue
            if glob is not None and not glob.match(name):
                continue
            if delimiter:
                cut = name.find(delimiter, len(prefix))
                if cut >= 0:
                    prefixes.add(name[:cut + len(delimiter)])
                    if not (trailing and cut + len(delimiter) == len(name)):
                        continue
            items.append(info)

        # One sorted sequence of entries (name, kind) where kind 0 = item, 1 = prefix;
        # maxResults counts both, and the page token is the last entry returned.
        entries = sorted([(i.name, 0, i) for i in items] + [(p, 1, p) for p in prefixes],
                         key=lambda e: (e[0], e[1]))
        if after is not None:
            entries = [e for e in entries if (e[0], e[1]) > after]
        page = entries[:limit]
        body = {"kind": "storage#objects"}
        if len(entries) > limit:
            body["nextPageToken"] = _encode_token(page[-1][0], page[-1][1])
        page_prefixes = [e[0] for e in page if e[1] == 1]
        if page_prefixes:
            body["prefixes"] = page_prefixes
        want_hashes = fields_want(fields, "items", "md5Hash") or fields_want(fields, "items", "crc32c")
        page_items = [self.object_resource(ex, e[2], want_hashes) for e in page if e[1] == 0]
        if page_items:
            body["items"] = page_items
        ex.send_json(200, apply_fields(body, fields))

    # -- objects.get --

    def get_object(self, ex, bucket, name, media):
        self.store.require_bucket(bucket)
        media = media or ex.query.get("alt") == "media"
        generation = _int_param(ex.query, "generation")
        preconditions = _preconditions(ex.query)
        fields = parse_fields(ex.query.get("fields"))
        f, info = self.store.open(bucket, name)
        if f is None:
            raise ApiError(404, "No such object: %s/%s" % (bucket, name))
        with f:
            if generation is not None and generation != info.generation:
                raise ApiError(404, "No such object: %s/%s" % (bucket, name))
            check_preconditions(info, preconditions, not_match_status=304)
            if media:
                self._send_media(ex, f, info)
            else:
                want_hashes = fields_want(fields, "md5Hash") or fields_want(fields, "crc32c")
                ex.send_json(200, apply_fields(self.object_resource(ex, info, want_hashes, f), fields))

    def _send_media(self, ex, f, info):
        md5, crc = self.store.hashes(info, f)
        res = info.resource
        stored_encoding = info.content_encoding or "identity"
        headers = [
            ("X-Goog-Hash", "crc32c=%s" % crc if info.component_count else "crc32c=%s,md5=%s" % (crc, md5)),
            ("X-Goog-Generation", str(info.generation)),
            ("X-Goog-Metageneration", str(info.metageneration)),
            ("X-Goog-Stored-Content-Encoding", stored_encoding),
            ("X-Goog-Stored-Content-Length", str(info.size)),
            ("X-Goog-Storage-Class", "STANDARD"),
            ("ETag", '"%s"' % info.etag()),
            ("Last-Modified", formatdate(info.updated_ns / 1e9, usegmt=True)),
            ("Content-Type", res["contentType"]),
            ("Cache-Control", res.get("cacheControl", "no-cache, no-store, max-age=0, must-revalidate")),
        ]
        if info.component_count:
            headers.append(("X-Goog-Component-Count", str(info.component_count)))
        for field, header in (("contentDisposition", "Content-Disposition"), ("contentLanguage", "Content-Language")):
            if field in res:
                headers.append((header, res[field]))

        if stored_encoding == "gzip":
            no_transform = "no-transform" in res.get("cacheControl", "").lower()
            if not no_transform and not _accepts_gzip(ex.headers.get("Accept-Encoding")):
                # Decompressive transcoding: no Content-Length/Content-Encoding, Range ignored.
                ex.start_response(200, headers + [("Transfer-Encoding", "chunked")])
                self._stream_gunzip(ex, f)
                return
            headers.append(("Content-Encoding", "gzip"))

        span = parse_range(ex.headers.get("Range"), info.size) if ex.headers.get("Range") else None
        if span == "unsatisfiable":
            raise ApiError(416, "The requested range cannot be satisfied.", "requestedRangeNotSatisfiable",
                           headers={"Content-Range": "bytes */%d" % info.size})
        headers.append(("Accept-Ranges", "bytes"))
        if span is None:
            start, length, status = 0, info.size, 200
        else:
            start, length, status = span[0], span[1] - span[0] + 1, 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (span[0], span[1], info.size)))
        headers.append(("Content-Length", str(length)))
        ex.start_response(status, headers)
        ex.send_file_range(f, start, length)

    @staticmethod
    def _stream_gunzip(ex, f):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while True:
                data = f.read(256 * 1024)
                if not data:
                    break
                while data:
                    out = inflater.decompress(data)
                    if out:
                        ex.write_body(out, chunked=True)
                    data = b""
                    if inflater.eof and inflater.unused_data:  # concatenated gzip members
                        data = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            tail = inflater.flush()
            if tail:
                ex.write_body(tail, chunked=True)
        except zlib.error:
            raise AbortConnection() from None  # stored bytes are not gzip: nothing sane to send
        ex.end_chunked()

    # -- objects.delete / patch --

    def delete_object(self, ex, bucket, name):
        self.store.delete(bucket, name, _int_param(ex.query, "generation"), _preconditions(ex.query))
        ex.send_empty(204)

    def patch_object(self, ex, bucket, name):
        changes = ex.read_json()
        info = self.store.patch(bucket, name, changes, _preconditions(ex.query))
        ex.send_json(200, self.object_resource(ex, info))

    # -- uploads --

    def _receive(self, ex, fileobj, hasher, skip=0, keep=None, progress=None):
        """Copy the request body into fileobj (and hasher): drop the first `skip` bytes,
        store at most `keep` bytes after them, discard the rest; progress(n) is called as
        bytes are stored (so a fault mid-body leaves an exact count)."""
        stored = 0
        while True:
            data = ex.read_body()
            if not data:
                return
            if skip:
                dropped = min(skip, len(data))
                data, skip = data[dropped:], skip - dropped
            if keep is not None:
                data = data[:max(0, keep - stored)]
            if data:
                fileobj.write(data)
                hasher.update(data)
                stored += len(data)
                if progress is not None:
                    progress(len(data))

    def _commit_temp(self, ex, bucket, name, tmp_path, digests, resource, preconditions):
        _verify_digests(digests, ex.headers.get("X-Goog-Hash"), resource)
        info = self.store.commit(bucket, name, tmp_path, digests, resource, preconditions)
        return self.object_resource(ex, info, digests=digests)

    def insert_object(self, ex, bucket):
        self.store.require_bucket(bucket)
        upload_type = ex.query.get("uploadType")
        if upload_type == "media":
            self._upload_media(ex, bucket)
        elif upload_type == "multipart":
            self._upload_multipart(ex, bucket)
        elif upload_type == "resumable":
            self._start_resumable(ex, bucket)
        else:
            raise ApiError(400, _UPLOAD_USAGE, "badRequest")

    def _upload_media(self, ex, bucket):
        name = ex.query.get("name")
        if not name:
            raise ApiError(400, _UPLOAD_USAGE, "badRequest")
        validate_object_name(name)
        resource = {"contentType": ex.headers.get("Content-Type") or "application/octet-stream"}
        if ex.query.get("contentEncoding"):
            resource["contentEncoding"] = ex.query["contentEncoding"]
        fileobj, tmp = self.store.new_temp()
        try:
            hasher = ObjectHasher()
            with fileobj:
                self._receive(ex, fileobj, hasher)
            body = self._commit_temp(ex, bucket, name, tmp, hasher.finish(), resource, _preconditions(ex.query))
        finally:
            _discard(tmp)
        ex.send_json(200, body)

    def _upload_multipart(self, ex, bucket):
        ctype, params = _header_params(ex.headers.get("Content-Type", ""))
        if not ctype.startswith("multipart/"):
            raise ApiError(400, "Multipart uploads need a multipart/related Content-Type")
        parts = parse_multipart(ex.read_all(), params.get("boundary", ""))
        if len(parts) != 2:
            raise ApiError(400, "Multipart upload must have exactly two parts (metadata, media)")
        (_, meta_raw), (media_headers, media) = parts
        try:
            meta = json.loads(meta_raw or b"{}")
        except ValueError:
            raise ApiError(400, "Parse Error: invalid JSON metadata part", "parseError") from None
        if not isinstance(meta, dict):
            raise ApiError(400, "Invalid JSON metadata part")
        if media_headers.get("content-transfer-encoding", "").lower() == "base64":
            try:
                media = base64.b64decode(media)
            except binascii.Error:
                raise ApiError(400, "Invalid base64 media part") from None
        name = ex.query.get("name") or meta.get("name")
        if not name:
            raise ApiError(400, _UPLOAD_USAGE, "badRequest")
        validate_object_name(name)
        resource = {k: meta[k] for k in RESOURCE_FIELDS if meta.get(k) is not None}
        resource.setdefault("contentType", media_headers.get("content-type") or "application/octet-stream")
        for key in ("md5Hash", "crc32c"):
            if key in meta:
                resource[key] = meta[key]
        hasher = ObjectHasher()
        hasher.update(media)
        fileobj, tmp = self.store.new_temp()
        try:
            with fileobj:
                fileobj.write(media)
            body = self._commit_temp(ex, bucket, name, tmp, hasher.finish(), resource, _preconditions(ex.query))
        finally:
            _discard(tmp)
        ex.send_json(200, body)

    def _start_resumable(self, ex, bucket):
        meta = ex.read_json()
        name = ex.query.get("name") or meta.get("name")
        if not name:
            raise ApiError(400, _UPLOAD_USAGE, "badRequest")
        validate_object_name(name)
        resource = {k: meta[k] for k in RESOURCE_FIELDS if meta.get(k) is not None}
        resource.setdefault("contentType", ex.headers.get("X-Upload-Content-Type") or "application/octet-stream")
        for key in ("md5Hash", "crc32c"):
            if key in meta:
                resource[key] = meta[key]
        preconditions = _preconditions(ex.query)
        check_preconditions(self.store.stat(bucket, name), preconditions)
        fileobj, path = self.store.new_temp(self.store.upload_dir)
        fileobj.close()
        session = UploadSession(bucket, name, resource, preconditions, path)
        with self._sessions_lock:
            self._sessions[session.id] = session
        location = "%s/upload/storage/v1/b/%s/o?uploadType=resumable&name=%s&upload_id=%s" % (
            ex.base_url, quote(bucket, safe=""), quote(name, safe=""), session.id)
        ex.send_empty(200, [("Location", location), ("X-GUploader-UploadID", session.id)])

    def resumable_chunk(self, ex, bucket):
        with self._sessions_lock:
            session = self._sessions.get(ex.query["upload_id"])
        if session is None or session.bucket != bucket:
            raise ApiError(404, "No such upload session: %s" % ex.query["upload_id"])
        with session.lock:
            if ex.command == "DELETE":
                with self._sessions_lock:
                    self._sessions.pop(session.id, None)
                _discard(session.path)
                raise ApiError(499, "Client Closed Request", "clientClosedRequest")
            if session.result is not None:
                ex.send_json(200, session.result)
                return
            self._resumable_put(ex, session)

    def _resumable_put(self, ex, session):
        header = ex.headers.get("Content-Range")
        if header is None:  # the whole upload in one request
            start, end, total = 0, None, None
            final = True
        else:
            m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+|\*)|\*)/(\d+|\*)\s*", header)
            if not m:
                raise ApiError(400, "Invalid Content-Range header: %s" % header)
            total = None if m[3] == "*" else int(m[3])
            if m[1] is None:  # status query, or finalisation when the total is reached
                if total is not None and total == session.persisted:
                    self._finalize(ex, session)
                elif total is not None and total < session.persisted:
                    raise ApiError(400, "Invalid request: the total size is smaller than the data received.")
                else:
                    self._send_incomplete(ex, session)
                return
            start = int(m[1])
            end = None if m[2] == "*" else int(m[2])
            if end is not None and end < start:
                raise ApiError(400, "Invalid Content-Range header: %s" % header)
            # `a-*` means this request carries the rest of the upload
            final = end is None or (total is not None and end + 1 == total)
        if start > session.persisted:
            raise ApiError(400, "Invalid request: the chunk starts at byte %d but only %d bytes were "
                                "received so far." % (start, session.persisted))
        keep = None
        if not final:
            length = end - start + 1
            if length < RESUMABLE_QUANTUM:
                raise ApiError(400, "Invalid request. The number of bytes uploaded is required to be equal or "
                                    "greater than 262144, except for the final request (it's recommended to be "
                                    "the exact multiple of 262144). The received request contained %d bytes, "
                                    "which does not meet this requirement." % length)
            keep = (end + 1) // RESUMABLE_QUANTUM * RESUMABLE_QUANTUM - session.persisted

        def advance(n):
            session.persisted += n

        with open(session.path, "ab") as fileobj:
            self._receive(ex, fileobj, session.hasher, skip=session.persisted - start, keep=keep, progress=advance)
        if final:
            if total is not None and total != session.persisted:
                raise ApiError(400, "Invalid request: %d bytes were received but the upload declares %d."
                               % (session.persisted, total))
            self._finalize(ex, session)
        else:
            self._send_incomplete(ex, session)

    @staticmethod
    def _send_incomplete(ex, session):
        headers = [("X-GUploader-UploadID", session.id)]
        if session.persisted:
            headers.append(("Range", "bytes=0-%d" % (session.persisted - 1)))
        ex.send_empty(308, headers)

    def _finalize(self, ex, session):
        try:
            body = self._commit_temp(ex, session.bucket, session.name, session.path, session.hasher.finish(),
                                     session.resource, session.preconditions)
        except ApiError:
            with self._sessions_lock:
                self._sessions.pop(session.id, None)
            _discard(session.path)
            raise
        session.result = body  # later requests on the session get it again
        ex.send_json(200, body)

    # -- objects.compose --

    def compose(self, ex, bucket, name):
        self.store.require_bucket(bucket)
        validate_object_name(name)
        body = ex.read_json()
        sources = body.get("sourceObjects")
        if not isinstance(sources, list) or not 1 <= len(sources) <= 32:
            raise ApiError(400, "The number of source components provided (%d) must be between 1 and 32."
                           % (len(sources) if isinstance(sources, list) else 0))
        destination = body.get("destination") or {}
        resource = {k: destination[k] for k in RESOURCE_FIELDS if destination.get(k) is not None}
        resource.setdefault("contentType", "application/octet-stream")
        hasher, components = ObjectHasher(), 0
        fileobj, tmp = self.store.new_temp()
        try:
            with fileobj:
                for src in sources:
                    src_name = src.get("name") if isinstance(src, dict) else None
                    if not src_name:
                        raise ApiError(400, "Required: sourceObjects[].name", "required")
                    f, info = self.store.open(bucket, src_name)
                    if f is None:
                        raise ApiError(404, "No such object: %s/%s" % (bucket, src_name))
                    with f:
                        wanted = src.get("generation")
                        if wanted is not None and str(wanted) != str(info.generation):
                            raise ApiError(404, "No such object: %s/%s" % (bucket, src_name))
                        pre = (src.get("objectPreconditions") or {}).get("ifGenerationMatch")
                        if pre is not None and str(pre) != str(info.generation):
                            raise ApiError(412, "At least one of the pre-conditions you specified did not hold.",
                                           "conditionNotMet")
                        while True:
                            data = f.read(1 << 20)
                            if not data:
                                break
                            fileobj.write(data)
                            hasher.update(data)
                    components += info.component_count or 1
            if components > 1024:
                raise ApiError(400, "The composite object would have more than 1024 components.")
            digests = hasher.finish()
            info = self.store.commit(bucket, name, tmp, digests, resource, _preconditions(ex.query),
                                     component_count=components)
        finally:
            _discard(tmp)
        ex.send_json(200, self.object_resource(ex, info, digests=digests))


def _page_size(query):
    size = _int_param(query, "maxResults")
    if size is None or size <= 0:
        return MAX_PAGE
    return min(size, MAX_PAGE)


def _encode_token(name, kind):
    raw = json.dumps([name, kind], ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(token):
    try:
        name, kind = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        return str(name), int(kind)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ApiError(400, "Invalid pageToken") from None


def _discard(path):
    try:
        os.unlink(path)
    except OSError:
        pass
