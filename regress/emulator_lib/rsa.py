"""RSA public keys from PEM/DER and RSASSA-PKCS1-v1_5 SHA-256 verification (RFC 8017), in
pure Python: just enough to check the RS256 JWTs of the OAuth2 service-account flow.

load_public_key(pem) accepts the PEM blocks a Google service-account key or OpenSSL gives:
  -----BEGIN PRIVATE KEY-----      PKCS#8 PrivateKeyInfo holding an RSAPrivateKey
  -----BEGIN RSA PRIVATE KEY-----  PKCS#1 RSAPrivateKey
  -----BEGIN PUBLIC KEY-----       X.509 SubjectPublicKeyInfo
  -----BEGIN RSA PUBLIC KEY-----   PKCS#1 RSAPublicKey
and returns the public part, an RsaPublicKey(n, e). Only definite-length DER is accepted.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections import namedtuple

RsaPublicKey = namedtuple("RsaPublicKey", "n e")

# DER tags used below.
_INTEGER, _BIT_STRING, _OCTET_STRING, _NULL, _OID, _SEQUENCE = 0x02, 0x03, 0x04, 0x05, 0x06, 0x30

# 1.2.840.113549.1.1.1 (rsaEncryption), as the content octets of a DER OBJECT IDENTIFIER.
_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")

# DER of DigestInfo ::= SEQUENCE { SEQUENCE { OID id-sha256, NULL }, OCTET STRING (32 bytes) }
# up to the digest itself (RFC 8017 section 9.2, note 1).
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

MIN_MODULUS_BITS = 2048  # RFC 7518 section 3.3: RS256 keys MUST be 2048 bits or larger


class RsaKeyError(ValueError):
    """A key that cannot be parsed or is unusable."""


# ---- DER ------------------------------------------------------------------------------------

def _read_tlv(data, pos):
    """(tag, content, position after the element) of the DER element at data[pos]."""
    if pos + 2 > len(data):
        raise RsaKeyError("DER: truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise RsaKeyError("DER: multi-byte tags are not supported")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise RsaKeyError("DER: indefinite length is not DER")
        if count > 4 or pos + count > len(data):
            raise RsaKeyError("DER: bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise RsaKeyError("DER: length not in minimal form")
        pos += count
    end = pos + length
    if end > len(data):
        raise RsaKeyError("DER: element runs past the end of its container")
    return tag, data[pos:end], end


def _children(content):
    """The elements inside a constructed value, as a list of (tag, content)."""
    out, pos = [], 0
    while pos < len(content):
        tag, value, pos = _read_tlv(content, pos)
        out.append((tag, value))
    return out


def _parse_single(data, expected_tag, what):
    tag, content, end = _read_tlv(data, 0)
    if tag != expected_tag or end != len(data):
        raise RsaKeyError("%s: expected a single DER element with tag 0x%02x" % (what, expected_tag))
    return content


def _integer(element, what):
    tag, content = element
    if tag != _INTEGER or not content:
        raise RsaKeyError("%s is not an INTEGER" % what)
    return int.from_bytes(content, "big", signed=True)


def _check_algorithm(element):
    """AlgorithmIdentifier must be rsaEncryption with NULL (or absent) parameters."""
    tag, content = element
    if tag != _SEQUENCE:
        raise RsaKeyError("AlgorithmIdentifier is not a SEQUENCE")
    parts = _children(content)
    if not parts or parts[0] != (_OID, _RSA_ENCRYPTION):
        raise RsaKeyError("not an RSA key (algorithm is not rsaEncryption)")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] != (_NULL, b"")):
        raise RsaKeyError("rsaEncryption parameters must be NULL")


def _rsa_private_key(der):
    """PKCS#1 RSAPrivateKey -> RsaPublicKey, checking n = p*q."""
    fields = _children(_parse_single(der, _SEQUENCE, "RSAPrivateKey"))
    if len(fields) < 9:
        raise RsaKeyError("RSAPrivateKey has too few fields")
    version, n, e, _d, p, q = (_integer(f, "RSAPrivateKey field") for f in fields[:6])
    if version not in (0, 1):
        raise RsaKeyError("RSAPrivateKey version %d" % version)
    if p * q != n:
        raise RsaKeyError("RSAPrivateKey: modulus is not p*q")
    return _checked(n, e)


def _rsa_public_key(der):
    """PKCS#1 RSAPublicKey ::= SEQUENCE { modulus, publicExponent }."""
    fields = _children(_parse_single(der, _SEQUENCE, "RSAPublicKey"))
    if len(fields) != 2:
        raise RsaKeyError("RSAPublicKey must have two fields")
    return _checked(_integer(fields[0], "modulus"), _integer(fields[1], "publicExponent"))


def _pkcs8(der):
    """PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING, [0].., [1].. }."""
    fields = _children(_parse_single(der, _SEQUENCE, "PrivateKeyInfo"))
    if len(fields) < 3:
        raise RsaKeyError("PrivateKeyInfo has too few fields")
    if _integer(fields[0], "PrivateKeyInfo version") not in (0, 1):
        raise RsaKeyError("unknown PrivateKeyInfo version")
    _check_algorithm(fields[1])
    if fields[2][0] != _OCTET_STRING:
        raise RsaKeyError("PrivateKeyInfo privateKey is not an OCTET STRING")
    return _rsa_private_key(fields[2][1])


def _spki(der):
    """SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }."""
    fields = _children(_parse_single(der, _SEQUENCE, "SubjectPublicKeyInfo"))
    if len(fields) != 2:
        raise RsaKeyError("SubjectPublicKeyInfo must have two fields")
    _check_algorithm(fields[0])
    tag, bits = fields[1]
    if tag != _BIT_STRING or not bits or bits[0] != 0:
        raise RsaKeyError("subjectPublicKey is not a whole-byte BIT STRING")
    return _rsa_public_key(bits[1:])


def _checked(n, e):
    if n <= 0 or n % 2 == 0 or e < 3 or e % 2 == 0 or e >= n:
        raise RsaKeyError("implausible RSA key (n or e)")
    if n.bit_length() < MIN_MODULUS_BITS:
        raise RsaKeyError("RSA modulus of %d bits: RS256 needs at least %d" % (n.bit_length(), MIN_MODULUS_BITS))
    return RsaPublicKey(n, e)


# ---- PEM ------------------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_PARSERS = {"PRIVATE KEY": _pkcs8, "RSA PRIVATE KEY": _rsa_private_key,
            "PUBLIC KEY": _spki, "RSA PUBLIC KEY": _rsa_public_key}


def load_public_key(pem):
    """The RsaPublicKey in the first key block of a PEM text; RsaKeyError if there is none."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    for m in _PEM.finditer(pem):
        parser = _PARSERS.get(m.group(1))
        if parser is None:
            continue
        body = m.group(2)
        if re.search(r"^[A-Za-z-]+:", body, re.MULTILINE):
            raise RsaKeyError("encrypted PEM keys are not supported")
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise RsaKeyError("PEM body is not base64") from None
        return parser(der)
    raise RsaKeyError("no RSA key block found (expected BEGIN PRIVATE KEY or BEGIN PUBLIC KEY)")


# ---- RSASSA-PKCS1-v1_5 ----------------------------------------------------------------------

def emsa_pkcs1_v1_5_sha256(message, em_len):
    """EM = 0x00 || 0x01 || PS (0xFF...) || 0x00 || DigestInfo(SHA-256(message)) (RFC 8017 9.2)."""
    t = SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()
    if em_len < len(t) + 11:
        raise ValueError("intended encoded message length too short")
    return b"\x00\x01" + b"\xff" * (em_len - len(t) - 3) + b"\x00" + t


def verify_pkcs1_sha256(key, message, signature):
    """True if `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.

    RFC 8017 8.2.2: the signature must be exactly k octets and < n; the recovered encoded
    message is compared as a whole with the one built from the message (no parsing of the
    padding, so no lenient-parser forgeries).
    """
    k = (key.n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    em = pow(s, key.e, key.n).to_bytes(k, "big")
    return hmac.compare_digest(em, emsa_pkcs1_v1_5_sha256(message, k))
