"""Filesystem-backed object store behind the GCS emulator.

Layout under the root directory (the filesystem is the source of truth: files added,
replaced or deleted while the emulator runs are seen by the next request):

  ROOT/BUCKET/path/to/object          one plain file per object; its name is the relative
                                      path with '/' separators
  ROOT/.emulator/meta/BUCKET/KEY.json sidecar per object (KEY = the percent-encoded name, or
                                      "~" + sha256 for long names), see below
  ROOT/.emulator/blobs/BUCKET/H       objects whose names cannot be plain files (a name ending
  ROOT/.emulator/blobs/BUCKET/H.name  in '/', an empty or '.'/'..' segment, a file/directory
                                      clash with another object); H = sha256 of the name and
                                      H.name holds the name
  ROOT/.emulator/tmp, uploads         temporary files; every write is a rename into place

Directories whose names start with '.' are not buckets.

Generation: mtime in microseconds (st_mtime_ns // 1000). A commit sets the new file's
mtime to max(now, old generation + 1 µs), so every upload bumps it; a file replaced on disk
gets a new mtime and so a new generation.

Sidecar JSON, all keys optional, so fixtures can be seeded by hand:
  {"name": ..., "generation": "G", "metageneration": "1", "updated": ns,
   "contentType": ..., "contentEncoding": ..., "contentDisposition": ..., "contentLanguage": ...,
   "cacheControl": ..., "customTime": ..., "metadata": {...}, "componentCount": n,
   "hashes": {"size": n, "mtimeNs": n, "md5Hash": b64, "crc32c": b64}}
The resource fields apply only while "generation" (when present) is the file's current
generation; "hashes" is a cache valid while size and mtimeNs match the file.

MD5 and CRC32C are computed lazily (first request that needs them), once per file version,
and kept both in memory and in the sidecar.
"""

import base64
import hashlib
import json
import mimetypes
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from .crc32c import PREFERRED_CHUNK, crc32c
from .server import ApiError

# Object resource fields that uploads and patches may set and the store keeps.
RESOURCE_FIELDS = ("contentType", "contentEncoding", "contentDisposition", "contentLanguage",
                   "cacheControl", "customTime", "metadata")

_MIME = mimetypes.MimeTypes(filenames=())  # Python's built-in map only: the same everywhere
_LANE_MULTIPLE = 64 * 1024                 # hash streamed input in lane-friendly multiples


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


class ObjectHasher:
    """MD5 and CRC32C of a byte stream, fed in arbitrary pieces."""

    def __init__(self):
        self._md5 = hashlib.md5()
        self._crc = 0
        self._pending = bytearray()

    def update(self, data):
        self._md5.update(data)
        self._pending += data
        if len(self._pending) >= PREFERRED_CHUNK:
            cut = len(self._pending) - len(self._pending) % _LANE_MULTIPLE
            self._crc = crc32c(memoryview(self._pending)[:cut], self._crc)
            del self._pending[:cut]

    def finish(self):
        """(md5Hash, crc32c) as base64, the way the JSON API reports them."""
        self._crc = crc32c(self._pending, self._crc)
        self._pending.clear()
        return b64(self._md5.digest()), b64(self._crc.to_bytes(4, "big"))


def rfc3339(ns):
    secs, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%03dZ" % (rem // 1_000_000)


class ObjectInfo:
    """One live object version as found on disk."""

    __slots__ = ("bucket", "name", "path", "size", "mtime_ns", "generation", "metageneration",
                 "resource", "updated_ns", "component_count")

    def __init__(self, bucket, name, path, st, sidecar):
        self.bucket = bucket
        self.name = name
        self.path = path
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.generation = max(1, st.st_mtime_ns // 1000)
        bound = sidecar is not None and str(sidecar.get("generation", self.generation)) == str(self.generation)
        side = sidecar if bound else {}
        self.metageneration = int(side.get("metageneration", 1))
        self.resource = {k: side[k] for k in RESOURCE_FIELDS if side.get(k) is not None}
        if "contentType" not in self.resource:
            self.resource["contentType"] = guess_content_type(name)
        self.updated_ns = int(side.get("updated", self.generation * 1000))
        self.component_count = side.get("componentCount")

    @property
    def time_created(self):
        return rfc3339(self.generation * 1000)

    @property
    def updated(self):
        return rfc3339(self.updated_ns)

    @property
    def content_encoding(self):
        return self.resource.get("contentEncoding", "")

    def etag(self):
        """Like GCS: base64 of the protobuf varints (1: generation, 2: metageneration)."""
        def varint(n):
            out = bytearray()
            while True:
                byte, n = n & 0x7F, n >> 7
                out.append(byte | (0x80 if n else 0))
                if not n:
                    return bytes(out)
        return b64(b"\x08" + varint(self.generation) + b"\x10" + varint(self.metageneration))


def guess_content_type(name):
    ctype, encoding = _MIME.guess_type(name, strict=False)
    if encoding == "gzip":
        return "application/gzip"
    if encoding or not ctype:
        return "application/octet-stream"
    return ctype


def validate_object_name(name):
    """GCS naming rules: 1-1024 bytes of UTF-8, no CR/LF, not '.' or '..'."""
    if not name:
        raise ApiError(400, "Required parameter: name", "required")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "The object name is not valid UTF-8.") from None
    if len(encoded) > 1024 or "\r" in name or "\n" in name or name in (".", ".."):
        raise ApiError(400, "The specified object name is not valid.")


def check_preconditions(info, pre, not_match_status=412):
    """Raise 412 (or 304 for the *NotMatch conditions of a GET) when a condition fails.

    `pre` maps ifGenerationMatch/ifGenerationNotMatch/ifMetagenerationMatch/
    ifMetagenerationNotMatch to ints; a missing object has generation 0.
    """
    generation = info.generation if info else 0
    metageneration = info.metageneration if info else None
    failed = None
    if "ifGenerationMatch" in pre and pre["ifGenerationMatch"] != generation:
        failed = 412
    elif "ifMetagenerationMatch" in pre and pre["ifMetagenerationMatch"] != metageneration:
        failed = 412
    elif "ifGenerationNotMatch" in pre and pre["ifGenerationNotMatch"] == generation:
        failed = not_match_status
    elif "ifMetagenerationNotMatch" in pre and pre["ifMetagenerationNotMatch"] == metageneration:
        failed = not_match_status
    if failed == 304:
        raise ApiError(304, "Not Modified")
    if failed:
        raise ApiError(412, "At least one of the pre-conditions you specified did not hold.",
                       "conditionNotMet", error_fields={"locationType": "header", "location": "If-Match"})


class Store:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.state_dir = os.path.join(self.root, ".emulator")
        self.tmp_dir = os.path.join(self.state_dir, "tmp")
        self.upload_dir = os.path.join(self.state_dir, "uploads")
        for d in (self.tmp_dir, self.upload_dir):
            shutil.rmtree(d, ignore_errors=True)  # leftovers of a previous run
            os.makedirs(d)
        self.lock = threading.RLock()  # serialises commits, deletes and patches
        self._hash_cache = {}          # data path -> (size, mtime_ns, md5, crc32c)
        self._hash_locks = {}
        self._hash_guard = threading.Lock()

    # -- buckets --

    def bucket_dir(self, bucket):
        if not bucket or bucket.startswith(".") or "/" in bucket or "\0" in bucket:
            return None
        return os.path.join(self.root, bucket)

    def bucket_stat(self, bucket):
        path = self.bucket_dir(bucket)
        try:
            st = os.stat(path) if path else None
        except OSError:
            return None
        return st if st is not None and os.path.isdir(path) else None

    def require_bucket(self, bucket):
        if self.bucket_stat(bucket) is None:
            raise ApiError(404, "The specified bucket does not exist.")

    def buckets(self):
        with os.scandir(self.root) as it:
            return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))

    def create_bucket(self, bucket):
        try:
            os.mkdir(self.bucket_dir(bucket))
        except FileExistsError:
            raise ApiError(409, "Your previous request to create the named bucket succeeded and you already own it.",
                           "conflict") from None

    def delete_bucket(self, bucket):
        with self.lock:
            self.require_bucket(bucket)
            if next(self.iter_objects(bucket), None) is not None:
                raise ApiError(409, "The bucket you tried to delete is not empty.", "conflict")
            shutil.rmtree(self.bucket_dir(bucket))
            for sub in ("meta", "blobs"):
                shutil.rmtree(os.path.join(self.state_dir, sub, bucket), ignore_errors=True)

    # -- where an object lives --

    def _plain_path(self, bucket, name):
        segments = name.split("/")
        for seg in segments:
            if seg in ("", ".", "..") or "\0" in seg or len(os.fsencode(seg)) > 255:
                return None
        return os.path.join(self.bucket_dir(bucket), *segments)

    def _blob_path(self, bucket, name):
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
        return os.path.join(self.state_dir, "blobs", bucket, digest)

    def _sidecar_path(self, bucket, name):
        key = quote(name, safe="")
        if len(key) > 200:
            key = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()
        return os.path.join(self.state_dir, "meta", bucket, key + ".json")

    def _locate(self, bucket, name):
        plain = self._plain_path(bucket, name)
        if plain and os.path.isfile(plain):
            return plain
        blob = self._blob_path(bucket, name)
        return blob if os.path.isfile(blob) else None

    # -- sidecars --

    def _read_sidecar(self, bucket, name):
        try:
            with open(self._sidecar_path(bucket, name), "rb") as f:
                value = json.load(f)
            return value if isinstance(value, dict) else None
        except (OSError, ValueError):
            return None

    def _write_sidecar(self, bucket, name, sidecar):
        path = self._sidecar_path(bucket, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._write_atomic(path, json.dumps(sidecar, ensure_ascii=False).encode("utf-8"))

    def _write_atomic(self, path, data):
        fd, tmp = self.new_temp()
        with fd:
            fd.write(data)
        os.replace(tmp, path)

    def new_temp(self, directory=None):
        """A new temporary file on the store's filesystem: (file object, path)."""
        fd, path = tempfile.mkstemp(dir=directory or self.tmp_dir)
        return os.fdopen(fd, "wb"), path

    # -- reading --

    def stat(self, bucket, name):
        """ObjectInfo of the live object, or None."""
        path = self._locate(bucket, name)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return ObjectInfo(bucket, name, path, st, self._read_sidecar(bucket, name))

    def open(self, bucket, name):
        """(binary file, ObjectInfo) of the live object, consistent with each other."""
        path = self._locate(bucket, name)
        if path is None:
            return None, None
        try:
            f = open(path, "rb")
        except OSError:
            return None, None
        return f, ObjectInfo(bucket, name, path, os.fstat(f.fileno()), self._read_sidecar(bucket, name))

    def read_object_bytes(self, bucket, name):
        """The whole content of an object (for other services, e.g. a BigQuery load job)."""
        f, info = self.open(bucket, name)
        if f is None:
            raise ApiError(404, "No such object: %s/%s" % (bucket, name))
        with f:
            return f.read()

    def iter_objects(self, bucket):
        """ObjectInfo of every object in the bucket, in no particular order."""
        top = self.bucket_dir(bucket)
        sidecar_dir = os.path.join(self.state_dir, "meta", bucket)
        try:
            sidecars = set(os.listdir(sidecar_dir))
        except OSError:
            sidecars = set()
        seen = set()

        def info_for(name, path, st):
            side = None
            if os.path.basename(self._sidecar_path(bucket, name)) in sidecars:
                side = self._read_sidecar(bucket, name)
            return ObjectInfo(bucket, name, path, st, side)

        for name, entry in self._walk(top, ""):
            try:
                name.encode("utf-8")
                st = entry.stat()
            except (UnicodeEncodeError, OSError):
                continue  # not a valid object name, or gone meanwhile
            seen.add(name)
            yield info_for(name, entry.path, st)
        blob_dir = os.path.join(self.state_dir, "blobs", bucket)
        try:
            entries = [e for e in os.scandir(blob_dir) if e.name.endswith(".name")]
        except OSError:
            entries = []
        for entry in entries:
            data_path = entry.path[:-len(".name")]
            try:
                with open(entry.path, "rb") as f:
                    name = f.read().decode("utf-8")
                st = os.stat(data_path)
            except (OSError, UnicodeDecodeError):
                continue
            if name not in seen:
                yield info_for(name, data_path, st)

    def _walk(self, top, rel):
        try:
            it = os.scandir(top)
        except OSError:
            return
        with it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    yield from self._walk(entry.path, rel + entry.name + "/")
                elif entry.is_file():
                    yield rel + entry.name, entry

    # -- hashes --

    def hashes(self, info, fileobj=None):
        """(md5Hash, crc32c) of the object's bytes, computed once per file version.

        Pass the file object the caller is about to serve so that the hashes describe
        exactly those bytes even if the file is replaced meanwhile.
        """
        key = (info.size, info.mtime_ns)
        cached = self._hash_cache.get(info.path)
        if cached and cached[:2] == key:
            return cached[2:]
        with self._hash_guard:
            lock = self._hash_locks.setdefault(info.path, threading.Lock())
        with lock:
            cached = self._hash_cache.get(info.path)
            if cached and cached[:2] == key:
                return cached[2:]
            side = self._read_sidecar(info.bucket, info.name) or {}
            known = side.get("hashes") or {}
            if (known.get("size"), known.get("mtimeNs")) == key:
                digests = (known["md5Hash"], known["crc32c"])
            else:
                digests = self._compute_hashes(info, fileobj)
                self._remember_hashes(info, digests)
            self._hash_cache[info.path] = key + digests
            return digests

    def _compute_hashes(self, info, fileobj):
        own = fileobj is None
        f = open(info.path, "rb") if own else fileobj
        md5, crc, offset, pending = hashlib.md5(), 0, 0, None
        try:
            # MD5 releases the GIL: run it on another core while this one does CRC32C.
            with ThreadPoolExecutor(max_workers=1) as md5_worker:
                while True:
                    data = os.pread(f.fileno(), 4 * PREFERRED_CHUNK, offset)
                    if not data:
                        break
                    offset += len(data)
                    if pending is not None:
                        pending.result()
                    pending = md5_worker.submit(md5.update, data)
                    crc = crc32c(data, crc)
            return b64(md5.digest()), b64(crc.to_bytes(4, "big"))
        finally:
            if own:
                f.close()

    def _remember_hashes(self, info, digests):
        with self.lock:
            side = self._read_sidecar(info.bucket, info.name) or {"name": info.name}
            side["hashes"] = {"size": info.size, "mtimeNs": info.mtime_ns,
                              "md5Hash": digests[0], "crc32c": digests[1]}
            try:
                self._write_sidecar(info.bucket, info.name, side)
            except OSError:
                pass  # the cache is an optimisation only

    # -- writing --

    def commit(self, bucket, name, tmp_path, digests, resource, preconditions, component_count=None):
        """Atomically make `tmp_path` the new live version of bucket/name.

        `digests` are the (md5, crc32c) of the file, `resource` the object fields to keep.
        """
        with self.lock:
            self.require_bucket(bucket)
            current = self.stat(bucket, name)
            check_preconditions(current, preconditions)
            generation = max(time.time_ns() // 1000, current.generation + 1 if current else 0)
            os.utime(tmp_path, ns=(generation * 1000, generation * 1000))
            target = current.path if current else self._new_object_path(bucket, name)
            sidecar = {"name": name, "generation": str(generation), "metageneration": "1"}
            sidecar.update({k: v for k, v in resource.items() if k in RESOURCE_FIELDS and v is not None})
            if component_count:
                sidecar["componentCount"] = component_count
            sidecar["hashes"] = {"size": os.path.getsize(tmp_path), "mtimeNs": generation * 1000,
                                 "md5Hash": digests[0], "crc32c": digests[1]}
            # Sidecar first: until the rename, the old file's generation does not match it.
            self._write_sidecar(bucket, name, sidecar)
            os.replace(tmp_path, target)
            info = self.stat(bucket, name)
            self._hash_cache[info.path] = (info.size, info.mtime_ns) + tuple(digests)
            return info

    def _new_object_path(self, bucket, name):
        plain = self._plain_path(bucket, name)
        if plain is not None and not os.path.lexists(plain):
            try:
                os.makedirs(os.path.dirname(plain), exist_ok=True)
                return plain
            except (FileExistsError, NotADirectoryError):
                pass  # an ancestor is another object's file
        blob = self._blob_path(bucket, name)
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        if not os.path.exists(blob + ".name"):
            self._write_atomic(blob + ".name", name.encode("utf-8"))
        return blob

    def delete(self, bucket, name, generation, preconditions):
        with self.lock:
            self.require_bucket(bucket)
            info = self.stat(bucket, name)
            if info is None or (generation is not None and generation != info.generation):
                raise ApiError(404, "No such object: %s/%s" % (bucket, name))
            check_preconditions(info, preconditions)
            os.unlink(info.path)
            try:
                os.unlink(self._sidecar_path(bucket, name))
            except OSError:
                pass
            if info.path == self._blob_path(bucket, name):
                os.unlink(info.path + ".name")
            else:
                self._prune_dirs(os.path.dirname(info.path), self.bucket_dir(bucket))

    @staticmethod
    def _prune_dirs(directory, stop):
        """Remove now-empty directories up to (not including) `stop`."""
        while os.path.abspath(directory) != os.path.abspath(stop):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    def patch(self, bucket, name, changes, preconditions):
        """objects.patch: set (or with null, clear) resource fields; metadata is merged."""
        with self.lock:
            self.require_bucket(bucket)
            info = self.stat(bucket, name)
            if info is None:
                raise ApiError(404, "No such object: %s/%s" % (bucket, name))
            check_preconditions(info, preconditions)
            side = self._read_sidecar(bucket, name) or {}
            if str(side.get("generation", info.generation)) != str(info.generation):
                side = {k: v for k, v in side.items() if k == "hashes"}
            side.update({"name": name, "generation": str(info.generation)})
            for field in RESOURCE_FIELDS:
                if field not in changes:
                    continue
                value = changes[field]
                if field == "metadata" and isinstance(value, dict):
                    merged = dict(side.get("metadata") or {})
                    for k, v in value.items():
                        if v is None:
                            merged.pop(k, None)
                        else:
                            merged[k] = str(v)
                    value = merged or None
                if value is None:
                    side.pop(field, None)
                else:
                    side[field] = value
            side["metageneration"] = str(info.metageneration + 1)
            side["updated"] = time.time_ns()
            self._write_sidecar(bucket, name, side)
            return self.stat(bucket, name)
