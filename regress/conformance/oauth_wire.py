#!/usr/bin/env python3
"""Wire-level conformance of the luxe emulator's OAuth2 token endpoint and GCE metadata
server, checked against Google's documented behaviour (OAuth2 for service accounts) with the
standard library and the `openssl` command (which signs the JWTs, so the emulator's own RSA
code is checked by an independent implementation).

Usage: regress/conformance/oauth_wire.py

Starts its own emulator instances (--port 0, temporary roots, throw-away service-account keys
made by regress/tools/make_sa_key.py) and stops them. When the Cloud SDK is installed, Google's
Python google-auth library bundled with it, and gcloud itself (activate-service-account with
the key's token_uri pointing at the emulator, then `gcloud storage`), are used as independent
clients; without it those tests fail. Prints
"ok N - name" / "not ok N - name" per test, then "oauth-wire: N passed, M failed"; exits 1
on failure.
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tests, summary  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REGRESS = os.path.dirname(HERE)
EMULATOR = os.path.join(REGRESS, "emulator")
MAKE_KEY = os.path.join(REGRESS, "tools", "make_sa_key.py")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
               "timeframe. Check your iat and exp values in the JWT claim.")
EMAIL = "fdw-test@luxe-test.iam.gserviceaccount.com"
OTHER_EMAIL = "other@luxe-test.iam.gserviceaccount.com"

for var in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"):
    os.environ.pop(var, None)
os.environ.update(METADATA_SERVER_DETECTION="none", NO_GCE_CHECK="True",
                  GCE_METADATA_HOST="127.0.0.1:9", GCE_METADATA_IP="127.0.0.1:9")

WORK = tempfile.mkdtemp(prefix="oauth-wire-")


# ---- keys and JWTs (signed by openssl) ------------------------------------------------------

class Key:
    """A service-account key file made by make_sa_key.py, with its PEM beside it."""

    def __init__(self, name, email):
        self.json_path = os.path.join(WORK, name + ".json")
        subprocess.run([sys.executable, MAKE_KEY, "--token-uri", "http://127.0.0.1:1/token",
                        "--email", email, "--out", self.json_path], check=True)
        with open(self.json_path, encoding="utf-8") as f:
            self.info = json.load(f)
        self.email = email
        self.key_id = self.info["private_key_id"]
        self.pem_path = os.path.join(WORK, name + ".pem")
        with open(self.pem_path, "w", encoding="ascii") as f:
            f.write(self.info["private_key"])
        out = subprocess.run(["openssl", "pkey", "-in", self.pem_path, "-noout", "-text"],
                             stdout=subprocess.PIPE, check=True, text=True).stdout
        self.bits = int(out.split("Private-Key: (")[1].split(" bit")[0])


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def openssl_sign(key, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key.pem_path], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def openssl_raw_rsa(key, block):
    """block^d mod n with no padding: lets a test put any encoded message under a signature.

    (pkeyutl -sign insists on a digest-sized input, so the raw private-key operation is
    asked for as a padding-free "decryption", which is the same arithmetic.)"""
    return subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", key.pem_path,
                           "-pkeyopt", "rsa_padding_mode:none"], input=block,
                          stdout=subprocess.PIPE, check=True).stdout


def claims_for(email=EMAIL, aud=GOOGLE_AUD, scope=SCOPE, iat=None, lifetime=3600, **extra):
    iat = int(time.time()) if iat is None else iat
    claims = {"iss": email, "aud": aud, "iat": iat, "exp": iat + lifetime}
    if scope is not None:
        claims["scope"] = scope
    claims.update(extra)
    return claims


def make_jwt(key, claims, header=None):
    header = header if header is not None else {"alg": "RS256", "typ": "JWT", "kid": key.key_id}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(openssl_sign(key, signing_input.encode()))


# ---- emulator instances ----------------------------------------------------------------------

class Emulator:
    """regress/emulator on a free port over a temporary root with one bucket "bkt"."""

    def __init__(self, *args):
        self.root = tempfile.mkdtemp(dir=WORK, prefix="root-")
        os.mkdir(os.path.join(self.root, "bkt"))
        with open(os.path.join(self.root, "bkt", "hello.csv"), "w") as f:
            f.write("a,b\n1,2\n")
        self.stderr = open(os.path.join(self.root, "..", os.path.basename(self.root) + ".err"), "w+")
        self.proc = subprocess.Popen([sys.executable, EMULATOR, "--root", self.root, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        prefix = "luxe emulator listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            self.stop()
            self.stderr.seek(0)
            raise RuntimeError("emulator did not start: %r %s" % (line, self.stderr.read()))
        self.port = int(line[len(prefix):])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def token(self, assertion, grant_type=JWT_BEARER, path="/token", headers=None):
        form = {}
        if grant_type is not None:
            form["grant_type"] = grant_type
        if assertion is not None:
            form["assertion"] = assertion
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        hdrs.update(headers or {})
        return self.request("POST", path, urlencode(form).encode(), hdrs)

    def list_bucket(self, token=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        return self.request("GET", "/storage/v1/b/bkt/o", headers=headers)

    def metadata(self, path, flavor="Google"):
        headers = {"Metadata-Flavor": flavor} if flavor is not None else {}
        return self.request("GET", path, headers=headers)

    def control(self, method, path, obj=None):
        body = json.dumps(obj).encode() if obj is not None else None
        return self.request(method, path, body, {"Content-Type": "application/json"})


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def assert_token(r, lifetime=3599):
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == lifetime, body
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32, body
    return body["access_token"]


def assert_oauth_error(r, error, description=None, prefix=None):
    assert r.status == 400, r
    body = r.json()
    assert body.get("error") == error, body
    if description is not None:
        assert body.get("error_description") == description, body
    if prefix is not None:
        assert body.get("error_description", "").startswith(prefix), body


def assert_api_error(r, status, reason, message=None):
    assert r.status == status, r
    err = r.json()["error"]
    assert err["code"] == status and err["errors"][0]["reason"] == reason, err
    if message is not None:
        assert err["message"] == message, err


# ---- tests -------------------------------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


KEY = OTHER = STRANGER = None  # registered, registered (second account), never registered
E = None                        # --require-auth with KEY and OTHER registered


def setup():
    global KEY, OTHER, STRANGER, E
    for tool in ("openssl",):
        if shutil.which(tool) is None:
            raise RuntimeError("%s is required" % tool)
    KEY = Key("sa", EMAIL)
    OTHER = Key("other", OTHER_EMAIL)
    STRANGER = Key("stranger", EMAIL)  # claims to be EMAIL, but the emulator does not know it
    E = Emulator("--require-auth", "--service-account", KEY.json_path, "--service-account", OTHER.json_path)


@test
def signed_jwt_gets_a_token_that_lists_a_bucket_under_require_auth():
    """a signed JWT is exchanged for a token that authenticates a GCS list (--require-auth)"""
    assert_api_error(E.list_bucket(), 401, "required", "Login Required")
    assert_api_error(E.list_bucket("ya29.not-issued"), 401, "authError", "Invalid Credentials")
    r = E.token(make_jwt(KEY, claims_for()))
    token = assert_token(r)
    assert "no-store" in r.headers.get("cache-control", ""), r.headers
    r = E.list_bucket(token)
    assert r.status == 200 and [o["name"] for o in r.json()["items"]] == ["hello.csv"], r
    # A second account has its own key; each token is distinct.
    token2 = assert_token(E.token(make_jwt(OTHER, claims_for(email=OTHER_EMAIL))))
    assert token2 != token and E.list_bucket(token2).status == 200


@test
def audience_and_path_variants_accepted_like_google():
    """aud: oauth2.googleapis.com, www.googleapis.com/oauth2/v4, or the URL posted to"""
    assert_token(E.token(make_jwt(KEY, claims_for(aud=E.url + "/token"))))
    assert_token(E.token(make_jwt(KEY, claims_for(aud=E.url + "/oauth2/v4/token")), path="/oauth2/v4/token"))
    assert_token(E.token(make_jwt(KEY, claims_for(aud="https://www.googleapis.com/oauth2/v4/token"))))
    assert_token(E.token(make_jwt(KEY, claims_for()), path="/oauth2/v4/token"))
    # kid and typ are optional; several scopes are space-separated.
    assert_token(E.token(make_jwt(KEY, claims_for(scope=SCOPE + " https://www.googleapis.com/auth/bigquery"),
                                  header={"alg": "RS256"})))
    # iat a little in the future (clock skew) and a short assertion lifetime are fine.
    assert_token(E.token(make_jwt(KEY, claims_for(iat=int(time.time()) + 30, lifetime=60))))
    # Google's Python client sends a form body; a JSON body is accepted as well.
    body = json.dumps({"grant_type": JWT_BEARER, "assertion": make_jwt(KEY, claims_for())}).encode()
    assert_token(E.request("POST", "/token", body, {"Content-Type": "application/json"}))


@test
def wrong_aud_is_invalid_grant():
    """aud of another host, path or port -> 400 invalid_grant (Failed audience check)"""
    for aud in ("https://example.com/token", E.url + "/oauth2/v4/token", E.url + "/token/",
                "http://127.0.0.1:%d/token" % (E.port + 1), "https://oauth2.googleapis.com/token/x", None):
        claims = claims_for(aud=aud)
        if aud is None:
            del claims["aud"]
        assert_oauth_error(E.token(make_jwt(KEY, claims)), "invalid_grant",
                           prefix="Invalid JWT: Failed audience check")


@test
def signature_by_an_unregistered_key_is_invalid_grant():
    """a JWT signed by a key the emulator does not know -> 400 "Invalid JWT Signature." """
    assert_oauth_error(E.token(make_jwt(STRANGER, claims_for(), header={"alg": "RS256", "typ": "JWT"})),
                       "invalid_grant", "Invalid JWT Signature.")
    # Another registered account's key does not sign for this one.
    assert_oauth_error(E.token(make_jwt(OTHER, claims_for(), header={"alg": "RS256", "typ": "JWT"})),
                       "invalid_grant", "Invalid JWT Signature.")
    # A kid that is not this account's key id.
    assert_oauth_error(E.token(make_jwt(KEY, claims_for(), header={"alg": "RS256", "kid": OTHER.key_id})),
                       "invalid_grant", "Invalid JWT Signature.")


@test
def tampered_jwt_is_invalid_grant():
    """a signed JWT whose claims, header or signature were altered -> 400 invalid_grant"""
    good = make_jwt(KEY, claims_for())
    h, c, s = good.split(".")
    forged = b64url(json.dumps(claims_for(scope="https://www.googleapis.com/auth/cloud-platform")).encode())
    assert_oauth_error(E.token(".".join([h, forged, s])), "invalid_grant", "Invalid JWT Signature.")
    header2 = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())  # kid dropped after signing
    assert_oauth_error(E.token(".".join([header2, c, s])), "invalid_grant", "Invalid JWT Signature.")
    sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    sig[-1] ^= 1
    assert_oauth_error(E.token(".".join([h, c, b64url(bytes(sig))])), "invalid_grant", "Invalid JWT Signature.")
    assert_oauth_error(E.token(".".join([h, c, ""])), "invalid_grant", "Invalid JWT Signature.")
    assert_token(E.token(good))  # the original still works


@test
def emsa_pkcs1_v1_5_encoding_is_checked_exactly():
    """only the exact EMSA-PKCS1-v1_5 SHA-256 block verifies (raw RSA forgeries of the padding)"""
    k = KEY.bits // 8
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    signing_input = (header + "." + b64url(json.dumps(claims_for()).encode())).encode()
    digest = hashlib.sha256(signing_input).digest()
    sha256_prefix = bytes.fromhex("3031300d060960864801650304020105000420")
    sha1_prefix = bytes.fromhex("3021300906052b0e03021a05000414")

    def block(t, ps=None, lead=b"\x00\x01"):
        ps = b"\xff" * (k - len(t) - 3) if ps is None else ps
        return (lead + ps + b"\x00" + t).ljust(k, b"\x00")

    def attempt(em):
        assert len(em) == k
        return E.token(signing_input.decode() + "." + b64url(openssl_raw_rsa(KEY, em)))

    # The correct encoding, built by hand, passes: the raw-RSA path itself is sound.
    assert_token(attempt(block(sha256_prefix + digest)))
    assert openssl_raw_rsa(KEY, block(sha256_prefix + digest)) == openssl_sign(KEY, signing_input)
    bad = {
        "SHA-1 DigestInfo": block(sha1_prefix + hashlib.sha1(signing_input).digest()),
        "bare digest, no DigestInfo": block(digest),
        "block type 2": block(sha256_prefix + digest, lead=b"\x00\x02"),
        "a zero in the padding": block(sha256_prefix + digest,
                                       ps=b"\xff" * 10 + b"\x00" + b"\xff" * (k - 51 - 3 - 11)),
        "short padding, garbage after the digest": block(sha256_prefix + digest,
                                                         ps=b"\xff" * 8) [:k - 1] + b"\x01",
        "DigestInfo with NULL parameters dropped": block(bytes.fromhex("302f300b0609608648016503040201")
                                                         + b"\x04\x20" + digest),
    }
    for what, em in bad.items():
        assert len(em) == k, what
        r = attempt(em)
        assert r.status == 400 and r.json().get("error") == "invalid_grant", (what, r)
    # A signature one byte too long (a leading zero) is not k octets.
    sig = openssl_sign(KEY, signing_input)
    r = E.token(signing_input.decode() + "." + b64url(b"\x00" + sig))
    assert_oauth_error(r, "invalid_grant", "Invalid JWT Signature.")


@test
def unknown_iss_is_invalid_grant():
    """iss that is no registered client_email -> 400 invalid_grant"""
    assert_oauth_error(E.token(make_jwt(KEY, claims_for(email="nobody@luxe-test.iam.gserviceaccount.com"))),
                       "invalid_grant", "Invalid email or User ID")
    claims = claims_for()
    del claims["iss"]
    assert_oauth_error(E.token(make_jwt(KEY, claims)), "invalid_grant", "Invalid email or User ID")


@test
def expired_or_overlong_or_future_jwt_is_invalid_grant():
    """expired, > 60 min, iat in the future, or iat/exp missing -> 400 "Token must be a short-lived token" """
    now = int(time.time())
    cases = [claims_for(iat=now - 7200),                   # exp an hour ago
             claims_for(iat=now - 3601, lifetime=3600),     # expired one second ago
             claims_for(iat=now, lifetime=3601),            # longer than 60 minutes
             claims_for(iat=now + 120),                     # issued two minutes from now
             claims_for(iat=now, lifetime=0)]               # exp == iat
    no_exp = claims_for()
    del no_exp["exp"]
    str_iat = claims_for()
    str_iat["iat"] = str(now)
    for claims in cases + [no_exp, str_iat]:
        assert_oauth_error(E.token(make_jwt(KEY, claims)), "invalid_grant", SHORT_LIVED)


@test
def missing_scope_is_400():
    """no scope, an empty scope or a non-string scope -> 400 invalid_scope"""
    for scope in (None, "", "   ", ["a", "b"]):
        claims = claims_for(scope=scope)
        assert_oauth_error(E.token(make_jwt(KEY, claims)), "invalid_scope",
                           "Invalid OAuth scope or ID token audience provided.")


@test
def wrong_grant_type_and_malformed_requests_are_400():
    """other grant types -> unsupported_grant_type; missing parameters -> invalid_request"""
    jwt = make_jwt(KEY, claims_for())
    assert_oauth_error(E.token(jwt, grant_type="client_credentials"), "unsupported_grant_type")
    assert_oauth_error(E.token(jwt, grant_type="refresh_token"), "unsupported_grant_type")
    assert_oauth_error(E.token(jwt, grant_type=None), "invalid_request")
    assert_oauth_error(E.token(None), "invalid_request")
    for garbage in ("not-a-jwt", "a.b", "a.b.c.d", "!!!.???.***", b64url(b"[1]") + "." + b64url(b"{}") + "."):
        assert_oauth_error(E.token(garbage), "invalid_grant", prefix="Invalid JWT")
    r = E.request("GET", "/token")
    assert r.status == 405 and r.json()["error"] == "invalid_request", r


@test
def non_rs256_algorithms_are_refused():
    """alg none, HS256 (keyed with the public key, the classic confusion) and RS512 -> 400"""
    c = b64url(json.dumps(claims_for()).encode())
    for alg in ("none", "HS256", "RS512", None):
        h = b64url(json.dumps({"alg": alg, "typ": "JWT"} if alg else {"typ": "JWT"}).encode())
        assert_oauth_error(E.token(h + "." + c + "."), "invalid_grant", prefix="Invalid JWT")
        signed = h + "." + c
        assert_oauth_error(E.token(signed + "." + b64url(openssl_sign(KEY, signed.encode()))),
                           "invalid_grant", prefix="Invalid JWT")
    h = b64url(json.dumps({"alg": "RS256", "typ": "JWS"}).encode())
    assert_oauth_error(E.token(h + "." + c + "." + b64url(openssl_sign(KEY, (h + "." + c).encode()))),
                       "invalid_grant", prefix="Invalid JWT")


@test
def tokens_expire_after_token_lifetime():
    """--token-lifetime 2: the token works, then gets 401 authError; a new one works (refresh)"""
    short = Emulator("--require-auth", "--token-lifetime", "2", "--service-account", KEY.json_path)
    try:
        token = assert_token(short.token(make_jwt(KEY, claims_for())), lifetime=2)
        meta = json.loads(short.metadata("/computeMetadata/v1/instance/service-accounts/default/token").body)
        assert meta["expires_in"] == 2, meta
        assert short.list_bucket(token).status == 200
        assert short.list_bucket(meta["access_token"]).status == 200
        time.sleep(2.3)
        assert_api_error(short.list_bucket(token), 401, "authError", "Invalid Credentials")
        assert_api_error(short.list_bucket(meta["access_token"]), 401, "authError", "Invalid Credentials")
        fresh = assert_token(short.token(make_jwt(KEY, claims_for())), lifetime=2)
        assert short.list_bucket(fresh).status == 200
    finally:
        short.stop()


@test
def revoking_issued_tokens_gives_401():
    """DELETE /_emulator/tokens revokes issued tokens (to test a client's refresh on 401)"""
    token = assert_token(E.token(make_jwt(KEY, claims_for())))
    assert E.list_bucket(token).status == 200
    r = E.control("DELETE", "/_emulator/tokens")
    assert r.status == 200 and r.json()["revoked"] >= 1, r
    assert_api_error(E.list_bucket(token), 401, "authError")
    assert E.list_bucket(assert_token(E.token(make_jwt(KEY, claims_for())))).status == 200


@test
def metadata_server_requires_the_flavor_header():
    """metadata without Metadata-Flavor: Google -> 403 text; with it -> 200 + header + usable token"""
    path = "/computeMetadata/v1/instance/service-accounts/default/token"
    for flavor in (None, "google", "Goog"):
        r = E.metadata(path, flavor)
        assert r.status == 403, (flavor, r)
        assert r.headers["content-type"].startswith("text/"), r.headers
        assert b"Metadata-Flavor" in r.body, r
    r = E.request("GET", path, headers={"Metadata-Flavor": "Google", "X-Forwarded-For": "10.1.2.3"})
    assert r.status == 403, r
    r = E.metadata(path)
    assert r.status == 200 and r.headers.get("metadata-flavor") == "Google", (r, r.headers)
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type"} and body["expires_in"] == 3599, body
    assert body["token_type"] == "Bearer"
    assert E.list_bucket(body["access_token"]).status == 200
    r = E.metadata(path + "?scopes=" + SCOPE + ",https://www.googleapis.com/auth/bigquery")
    assert r.status == 200 and E.list_bucket(r.json()["access_token"]).status == 200, r
    r = E.metadata("/computeMetadata/v1/instance/service-accounts/%s/token" % OTHER_EMAIL)
    assert r.status == 200, r
    r = E.metadata("/computeMetadata/v1/instance/service-accounts/nobody@x.iam.gserviceaccount.com/token")
    assert r.status == 404 and r.headers.get("metadata-flavor") == "Google", r


@test
def metadata_server_identity_endpoints():
    """metadata email, project-id, recursive account info and the / ping"""
    r = E.metadata("/computeMetadata/v1/instance/service-accounts/default/email")
    assert r.status == 200 and r.body.decode() == EMAIL and r.headers["metadata-flavor"] == "Google", r
    r = E.metadata("/computeMetadata/v1/project/project-id")
    assert r.status == 200 and r.body.decode() == "luxe-test", r
    assert E.metadata("/computeMetadata/v1/project/project-id", None).status == 403
    r = E.metadata("/computeMetadata/v1/instance/service-accounts/default/?recursive=true")
    info = r.json()
    assert r.status == 200 and info["email"] == EMAIL and "default" in info["aliases"], r
    assert isinstance(info["scopes"], list) and info["scopes"], info
    r = E.metadata("/")
    assert r.status == 200 and r.headers.get("metadata-flavor") == "Google", r
    assert E.metadata("/computeMetadata/v1/instance/no-such-thing").status == 404


@test
def oauth2_token_fault_is_served_once():
    """a return-503 on oauth2.token (global queue) is served once, then tokens flow again"""
    r = E.control("POST", "/_emulator/faults", {"instructions": {"oauth2.token": ["return-503"]}})
    assert r.status == 200, r
    assert_api_error(E.token(make_jwt(KEY, claims_for())), 503, "backendError")
    assert_token(E.token(make_jwt(KEY, claims_for())))
    assert E.control("GET", "/_emulator/faults").json()["instructions"] == {}


@test
def metadata_token_faults_via_retry_test_api():
    """/retry_test with metadata.token: return-429, then return-reset-connection, then a token"""
    r = E.control("POST", "/retry_test",
                  {"instructions": {"metadata.token": ["return-429", "return-reset-connection"]}})
    test_id = r.json()["id"]
    path = "/computeMetadata/v1/instance/service-accounts/default/token"
    hdrs = {"Metadata-Flavor": "Google", "x-retry-test-id": test_id}
    assert_api_error(E.request("GET", path, headers=hdrs), 429, "rateLimitExceeded")
    try:
        E.request("GET", path, headers=hdrs)
    except (ConnectionError, http.client.HTTPException):
        pass
    else:
        raise AssertionError("the connection was not reset")
    r = E.request("GET", path, headers=hdrs)
    assert r.status == 200 and r.headers["metadata-flavor"] == "Google", r
    assert E.control("GET", "/retry_test/" + test_id).json()["completed"] is True
    E.control("DELETE", "/retry_test/" + test_id)


@test
def stats_count_token_and_metadata_requests():
    """/_emulator/stats counts oauth2.token and metadata.token (failed exchanges too)"""
    E.control("POST", "/_emulator/stats/reset")
    assert_token(E.token(make_jwt(KEY, claims_for())))
    assert_oauth_error(E.token(make_jwt(STRANGER, claims_for())), "invalid_grant")
    E.metadata("/computeMetadata/v1/instance/service-accounts/default/token")
    E.metadata("/computeMetadata/v1/instance/service-accounts/default/token", None)
    E.metadata("/computeMetadata/v1/project/project-id")
    requests = E.control("GET", "/_emulator/stats").json()["requests"]
    assert requests.get("oauth2.token") == 2 and requests.get("metadata.token") == 2, requests
    assert requests.get("metadata.get") == 1, requests


@test
def emulator_refuses_unusable_service_account_keys():
    """--service-account with a missing file, no key, or a 1024-bit key stops the emulator"""
    bad_json = os.path.join(WORK, "bad.json")
    with open(bad_json, "w") as f:
        json.dump({"type": "service_account", "client_email": EMAIL, "private_key": "not a key"}, f)
    small_pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True, text=True).stdout
    small_json = os.path.join(WORK, "small.json")
    with open(small_json, "w") as f:
        json.dump({"type": "service_account", "client_email": EMAIL, "private_key": small_pem}, f)
    for path, words in ((os.path.join(WORK, "missing.json"), "No such file"), (bad_json, "no RSA key"),
                        (small_json, "1024 bits")):
        proc = subprocess.run([sys.executable, EMULATOR, "--root", os.path.join(WORK, "r"), "--port", "0",
                               "--service-account", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30)
        assert proc.returncode == 2 and words in proc.stderr, (path, proc.returncode, proc.stderr)


@test
def default_mode_unchanged_and_require_token_coexists():
    """without --require-auth storage stays open; --require-token and issued tokens both work"""
    plain = Emulator()
    try:
        assert plain.list_bucket().status == 200
        assert_oauth_error(plain.token(make_jwt(KEY, claims_for())), "invalid_grant", "Invalid email or User ID")
        r = plain.metadata("/computeMetadata/v1/instance/service-accounts/default/email")
        assert r.body == b"default@luxe-emulator.iam.gserviceaccount.com", r
    finally:
        plain.stop()
    both = Emulator("--require-token", "s3cret", "--service-account", KEY.json_path)
    try:
        assert both.list_bucket("s3cret").status == 200
        assert both.list_bucket(assert_token(both.token(make_jwt(KEY, claims_for())))).status == 200
        assert_api_error(both.list_bucket(), 401, "required")
        both.control("DELETE", "/_emulator/tokens")
        assert both.list_bucket("s3cret").status == 200  # fixed tokens are not revoked
    finally:
        both.stop()


# ---- Google's Python google-auth (bundled with the Cloud SDK) as an independent client --------

GOOGLE_AUTH_SCRIPT = r"""
import json, os, sys, urllib.request
from google.oauth2 import service_account
from google.auth import compute_engine
from google.auth.transport import _http_client
key, base, mode = sys.argv[1], sys.argv[2], sys.argv[3]
req = _http_client.Request()
if mode == "service_account":
    creds = service_account.Credentials.from_service_account_file(
        key, scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
else:
    creds = compute_engine.Credentials()
creds.refresh(req)
out = {"token": creds.token, "expiry": creds.expiry.isoformat() if creds.expiry else None,
       "email": getattr(creds, "service_account_email", None)}
r = urllib.request.Request(base + "/storage/v1/b/bkt/o", headers={"Authorization": "Bearer " + creds.token})
out["items"] = [o["name"] for o in json.load(urllib.request.urlopen(r))["items"]]
print(json.dumps(out))
"""


def google_auth_path():
    sdk = "/usr/lib/google-cloud-sdk"
    if shutil.which("gcloud"):
        out = subprocess.run(["gcloud", "info", "--format=value(installation.sdk_root)"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        sdk = out.stdout.strip() or sdk
    path = os.path.join(sdk, "lib", "third_party")
    if not os.path.isdir(os.path.join(path, "google", "auth")):
        raise AssertionError("google-auth not found in the Cloud SDK's lib/third_party "
                             "(Debian package google-cloud-cli)")
    return path


def run_google_auth(emulator, key_path, mode):
    env = dict(os.environ, PYTHONPATH=google_auth_path(), GCE_METADATA_HOST="127.0.0.1:%d" % emulator.port,
               GCE_METADATA_IP="127.0.0.1:%d" % emulator.port)
    proc = subprocess.run([sys.executable, "-c", GOOGLE_AUTH_SCRIPT, key_path, emulator.url, mode],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@test
def google_auth_python_service_account_flow():
    """google-auth (Python) service_account.Credentials: POSTs to token_uri, token lists the bucket"""
    path = google_auth_path()  # noqa: F841 - skips early when absent
    # A key file whose token_uri points at the emulator: google-auth posts there, but signs
    # aud=https://oauth2.googleapis.com/token.
    info = dict(KEY.info, token_uri=E.url + "/token")
    key_path = os.path.join(WORK, "sa-emulator.json")
    with open(key_path, "w") as f:
        json.dump(info, f)
    E.control("POST", "/_emulator/stats/reset")
    out = run_google_auth(E, key_path, "service_account")
    assert out["items"] == ["hello.csv"] and out["token"].startswith("ya29."), out
    assert E.control("GET", "/_emulator/stats").json()["requests"].get("oauth2.token") == 1


@test
def google_auth_python_compute_engine_flow():
    """google-auth (Python) compute_engine.Credentials via GCE_METADATA_HOST: header checks, token"""
    google_auth_path()
    E.control("POST", "/_emulator/stats/reset")
    out = run_google_auth(E, "", "compute_engine")
    assert out["items"] == ["hello.csv"], out
    assert out["email"] == EMAIL, out
    assert E.control("GET", "/_emulator/stats").json()["requests"].get("metadata.token") == 1


@test
def gcloud_activate_service_account_and_storage_ls():
    """gcloud auth activate-service-account (token_uri = emulator), then gcloud storage ls/cat"""
    if shutil.which("gcloud") is None:
        raise AssertionError("gcloud not found (Debian package google-cloud-cli)")
    info = dict(KEY.info, token_uri=E.url + "/token")
    key_path = os.path.join(WORK, "sa-gcloud.json")
    with open(key_path, "w") as f:
        json.dump(info, f)
    env = dict(os.environ, CLOUDSDK_CONFIG=os.path.join(WORK, "gcloud-config"), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_CORE_PROJECT="luxe-test", CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=E.url + "/",
               CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="True", CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="True")
    env.pop("CLOUDSDK_AUTH_DISABLE_CREDENTIALS", None)

    def gcloud(*args):
        proc = subprocess.run(["gcloud", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, timeout=120)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
        return proc.stdout

    E.control("POST", "/_emulator/stats/reset")
    gcloud("auth", "activate-service-account", "--key-file=" + key_path)
    assert gcloud("storage", "ls", "gs://bkt").split() == ["gs://bkt/hello.csv"]
    assert gcloud("storage", "cat", "gs://bkt/hello.csv") == "a,b\n1,2\n"
    requests = E.control("GET", "/_emulator/stats").json()["requests"]
    assert requests.get("oauth2.token", 0) >= 1 and requests.get("storage.objects.list") == 1, requests


# ---- run ----------------------------------------------------------------------------------



def main():
    passed = failed = skipped = 0
    try:
        setup()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print("not ok 1 - setup (keys and emulator)")
        print("oauth-wire: 0 passed, 1 failed")
        shutil.rmtree(WORK, ignore_errors=True)
        return 1
    try:
        passed, failed, skipped = run_tests(TESTS)
    finally:
        if E is not None:
            E.stop()
            if failed:
                with open(E.stderr.name) as f:
                    for line in f.read().splitlines()[-20:]:
                        print("# emulator: " + line)
        shutil.rmtree(WORK, ignore_errors=True)
    summary("oauth-wire", passed, failed, skipped)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
