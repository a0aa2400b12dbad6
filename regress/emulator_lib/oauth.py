"""Google OAuth2 for service accounts: the JWT-bearer token endpoint and the GCE metadata
server, both issuing access tokens that the shared Auth hook (server.py) then accepts until
they expire, as Google's OAuth2 documentation describes; this module mimics it.

Token endpoint (operation "oauth2.token", never authenticated itself):
  POST /token  or  POST /oauth2/v4/token
    form body: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>
  The JWT must be RS256-signed (RSASSA-PKCS1-v1_5 SHA-256, checked in rsa.py) with the key
  of a service account registered with --service-account KEY.json, and carry
    iss    the account's client_email
    aud    https://oauth2.googleapis.com/token, https://www.googleapis.com/oauth2/v4/token,
           or exactly the URL the request was sent to (http://HOST:PORT/token, with HOST:PORT
           as in the request's Host header, or .../oauth2/v4/token)
    iat    not more than 60 s in the future
    exp    in the future, and exp - iat <= 3600
    scope  one or more space-separated scopes
  200 {"access_token","expires_in","token_type":"Bearer"}; errors are 400 with
  {"error","error_description"} as Google words them (invalid_grant, invalid_scope,
  invalid_request, unsupported_grant_type).

GCE metadata server (all answers carry "Metadata-Flavor: Google"; requests must send that
header, else 403 with a text body):
  GET /computeMetadata/v1/instance/service-accounts/{default|EMAIL}/token[?scopes=a,b]
                                                                     operation "metadata.token"
  GET /computeMetadata/v1/instance/service-accounts/{default|EMAIL}/{email,scopes,aliases}
  GET /computeMetadata/v1/instance/service-accounts/{default|EMAIL}/?recursive=true (JSON)
  GET /computeMetadata/v1/project/{project-id,numeric-project-id}    operation "metadata.get"
  GET /  (a ping: 200 "computeMetadata/", header or not)               operation "metadata.ping"
The default account is the first --service-account given (its client_email and project_id),
or default@luxe-emulator.iam.gserviceaccount.com in project luxe-emulator without one.

Access tokens live --token-lifetime seconds (default 3599, as Google's).
"""

import base64
import binascii
import json
import re
import secrets
import time
from collections import namedtuple
from urllib.parse import parse_qsl

from .rsa import RsaKeyError, load_public_key, verify_pkcs1_sha256
from .server import Route

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
LEGACY_TOKEN_URI = "https://www.googleapis.com/oauth2/v4/token"
TOKEN_PATHS = ("/token", "/oauth2/v4/token")
DEFAULT_LIFETIME = 3599
MAX_ASSERTION_LIFETIME = 3600  # exp - iat
CLOCK_SKEW = 60                # how far iat may be in the future

SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
               "timeframe. Check your iat and exp values in the JWT claim.")
BAD_SIGNATURE = "Invalid JWT Signature."
UNKNOWN_ACCOUNT = "Invalid email or User ID"
BAD_SCOPE = "Invalid OAuth scope or ID token audience provided."

DEFAULT_PROJECT = "luxe-emulator"
DEFAULT_EMAIL = "default@luxe-emulator.iam.gserviceaccount.com"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
METADATA_PREFIX = "/computeMetadata/v1/"

ServiceAccount = namedtuple("ServiceAccount", "email key key_id project_id")

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def load_service_account(path):
    """A ServiceAccount from a Google service-account key file; ValueError if unusable."""
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError("%s: %s" % (path, exc)) from None
    if not isinstance(info, dict):
        raise ValueError("%s: not a JSON object" % path)
    if info.get("type", "service_account") != "service_account":
        raise ValueError("%s: type is %r, not service_account" % (path, info.get("type")))
    email, pem = info.get("client_email"), info.get("private_key")
    if not isinstance(email, str) or "@" not in email:
        raise ValueError("%s: no client_email" % path)
    if not isinstance(pem, str):
        raise ValueError("%s: no private_key" % path)
    try:
        key = load_public_key(pem)
    except RsaKeyError as exc:
        raise ValueError("%s: private_key: %s" % (path, exc)) from None
    key_id = info.get("private_key_id") if isinstance(info.get("private_key_id"), str) else None
    project = info.get("project_id") if isinstance(info.get("project_id"), str) else None
    return ServiceAccount(email, key, key_id, project)


class OAuthError(Exception):
    """A token-endpoint error: 400 {"error": code, "error_description": description}."""

    def __init__(self, code, description=None, status=400):
        super().__init__(description or code)
        self.code = code
        self.description = description
        self.status = status

    def body(self):
        body = {"error": self.code}
        if self.description is not None:
            body["error_description"] = self.description
        return body


def _b64url_decode(part):
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class OAuthService:
    """The token endpoint and the metadata server, as one emulator service."""

    def __init__(self, auth, accounts=(), token_lifetime=DEFAULT_LIFETIME):
        self.auth = auth
        self.accounts = {}
        for account in accounts:
            self.accounts[account.email] = account
        self.token_lifetime = int(token_lifetime)
        first = accounts[0] if accounts else None
        self.default_email = first.email if first else DEFAULT_EMAIL
        self.project_id = (first.project_id if first and first.project_id else DEFAULT_PROJECT)

    # -- routing --

    def route(self, method, path, query):
        if path in TOKEN_PATHS:
            return Route("oauth2.token", self.token if method == "POST" else self.token_method, {}, True)
        if path == "/" and method == "GET":
            return Route("metadata.ping", self.metadata_ping, {}, True)
        if path == "/computeMetadata" or path.startswith("/computeMetadata/"):
            rest = path[len(METADATA_PREFIX):] if path.startswith(METADATA_PREFIX) else None
            parts = rest.split("/") if rest is not None else None
            if (parts and len(parts) == 4 and parts[:2] == ["instance", "service-accounts"]
                    and parts[3] == "token"):
                return Route("metadata.token", self.metadata_token, {"account": parts[2]}, True)
            return Route("metadata.get", self.metadata_get, {"rest": rest}, True)
        return None

    # -- token endpoint --

    def token_method(self, ex):
        ex.send_json(405, {"error": "invalid_request",
                           "error_description": "The token endpoint only accepts POST."},
                     {"Allow": "POST"})

    def token(self, ex):
        try:
            params = self._form(ex)
            grant = params.get("grant_type")
            if not grant:
                raise OAuthError("invalid_request", "Missing required parameter: grant_type")
            if grant != JWT_BEARER:
                raise OAuthError("unsupported_grant_type", "Invalid grant_type: %s" % grant)
            assertion = params.get("assertion")
            if not assertion:
                raise OAuthError("invalid_request", "Missing required parameter: assertion")
            self.verify_assertion(assertion, self._audiences(ex))
        except OAuthError as err:
            ex.send_json(err.status, err.body(), _NO_CACHE)
            return
        ex.send_json(200, self._issue(), _NO_CACHE)

    @staticmethod
    def _form(ex):
        raw = ex.read_all()
        if "json" in ex.headers.get("Content-Type", "").lower():
            try:
                value = json.loads(raw or b"{}")
            except ValueError:
                raise OAuthError("invalid_request", "Invalid JSON payload.") from None
            if not isinstance(value, dict):
                raise OAuthError("invalid_request", "Invalid JSON payload.")
            return {k: v for k, v in value.items() if isinstance(v, str)}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "The request body is not UTF-8.") from None
        return dict(parse_qsl(text, keep_blank_values=True))

    @staticmethod
    def _audiences(ex):
        """The aud values accepted for this request: Google's and the URL it was sent to."""
        return (GOOGLE_TOKEN_URI, LEGACY_TOKEN_URI, ex.base_url + ex.raw_path)

    def verify_assertion(self, assertion, audiences, now=None):
        """Check a JWT-bearer assertion like Google; its claims, or raise OAuthError."""
        now = time.time() if now is None else now
        parts = assertion.split(".")
        try:
            if len(parts) != 3 or not parts[0] or not parts[1]:
                raise ValueError
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_grant", "Invalid JWT: not a well-formed JWS "
                             "(three base64url parts: header.claims.signature).") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: the signing algorithm must be RS256 (got %s)."
                             % json.dumps(header.get("alg")))
        if "typ" in header and header["typ"] != "JWT":
            raise OAuthError("invalid_grant", "Invalid JWT: typ must be JWT.")
        account = self.accounts.get(claims.get("iss")) if isinstance(claims.get("iss"), str) else None
        if account is None:
            raise OAuthError("invalid_grant", UNKNOWN_ACCOUNT)
        kid = header.get("kid")
        if kid is not None and account.key_id and kid != account.key_id:
            raise OAuthError("invalid_grant", BAD_SIGNATURE)
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not verify_pkcs1_sha256(account.key, signed, signature):
            raise OAuthError("invalid_grant", BAD_SIGNATURE)
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not _is_number(iat) or not _is_number(exp) or iat > now + CLOCK_SKEW or exp <= now
                or exp <= iat or exp - iat > MAX_ASSERTION_LIFETIME):
            raise OAuthError("invalid_grant", SHORT_LIVED)
        if claims.get("aud") not in audiences:
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check. The right audience is "
                             "%s (or %s)." % (GOOGLE_TOKEN_URI, audiences[-1]))
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise OAuthError("invalid_scope", BAD_SCOPE)
        return claims

    def _issue(self):
        token = "ya29.luxe-" + secrets.token_urlsafe(48)
        self.auth.add_token(token, self.token_lifetime)
        return {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    # -- metadata server --

    @staticmethod
    def _metadata_send(ex, status, body, content_type="application/text"):
        if isinstance(body, str):
            body = body.encode("utf-8")
        ex.send_bytes(status, body, content_type, [("Metadata-Flavor", "Google"), _NO_CACHE_PAIR])

    def _metadata_guard(self, ex):
        """True if the request may be answered; otherwise the 403 has been sent."""
        if ex.command != "GET":
            self._metadata_send(ex, 405, "Method not allowed\n", "text/plain; charset=utf-8")
            return False
        if ex.headers.get("X-Forwarded-For"):
            self._metadata_send(ex, 403, "Request denied: X-Forwarded-For header present\n",
                                "text/plain; charset=utf-8")
            return False
        if ex.headers.get("Metadata-Flavor") != "Google":
            self._metadata_send(ex, 403, 'Missing required header "Metadata-Flavor": "Google"\n',
                                "text/plain; charset=utf-8")
            return False
        return True

    def _account(self, name):
        """The email for a service-accounts/{name} path segment, or None."""
        if name in ("default", self.default_email) or name in self.accounts:
            return self.default_email if name == "default" else name
        return None

    def metadata_ping(self, ex):
        self._metadata_send(ex, 200, "computeMetadata/\n")

    def metadata_token(self, ex, account):
        if not self._metadata_guard(ex):
            return
        if self._account(account) is None:
            self._metadata_send(ex, 404, "Not Found\n", "text/plain; charset=utf-8")
            return
        body = json.dumps(self._issue()).encode()
        self._metadata_send(ex, 200, body, "application/json")

    def metadata_get(self, ex, rest):
        if not self._metadata_guard(ex):
            return
        value = self._metadata_value(rest, ex.query)
        if value is None:
            self._metadata_send(ex, 404, "Not Found\n", "text/plain; charset=utf-8")
        elif isinstance(value, (dict, list)) or ex.query.get("alt") == "json":
            self._metadata_send(ex, 200, json.dumps(value), "application/json")
        else:
            self._metadata_send(ex, 200, value)

    def _metadata_value(self, rest, query):
        if rest is None:
            return None
        recursive = query.get("recursive", "").lower() == "true"
        project = {"project-id": self.project_id, "numeric-project-id": "123456789012"}
        if rest == "":
            return "instance/\nproject/\n"
        if rest in ("project", "project/"):
            return ({"projectId": self.project_id, "numericProjectId": 123456789012} if recursive
                    else "".join(k + "\n" for k in project))
        if rest.startswith("project/"):
            return project.get(rest[len("project/"):])
        if rest in ("instance/service-accounts", "instance/service-accounts/"):
            names = ["default"] + sorted({self.default_email} | set(self.accounts))
            return "".join(n + "/\n" for n in names)
        parts = rest.split("/")
        if len(parts) < 3 or parts[:2] != ["instance", "service-accounts"]:
            return None
        email = self._account(parts[2])
        if email is None:
            return None
        info = {"aliases": ["default"] if email == self.default_email else [],
                "email": email, "scopes": list(DEFAULT_SCOPES)}
        leaf = "/".join(parts[3:])
        if leaf == "":
            return info if recursive else "aliases\nemail\nidentity\nscopes\ntoken\n"
        if leaf == "email":
            return email
        if leaf == "scopes":
            return "".join(s + "\n" for s in DEFAULT_SCOPES)
        if leaf == "aliases":
            return "".join(a + "\n" for a in info["aliases"])
        return None


_NO_CACHE_PAIR = ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
_NO_CACHE = dict([_NO_CACHE_PAIR, ("Pragma", "no-cache")])
