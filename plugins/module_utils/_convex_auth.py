# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
# Use the convex_auth_keys module instead of importing it.
"""Convex Auth signing keys, as the upstream manual setup makes them.

Shared reference convex-selfhost.md section 5: the upstream script exports an RS256 key pair
with jose and prints

* JWT_PRIVATE_KEY = the PKCS#8 PEM, trailing whitespace trimmed, every newline replaced by a
  space;
* JWKS = JSON.stringify({keys: [{use: "sig", ...exportJWK(publicKey)}]}), that is
  {"keys":[{"use":"sig","kty":"RSA","n":...,"e":...}]} without spaces.

Error messages never contain key material.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import traceback

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

MIN_KEY_SIZE = 2048
PKCS8_LABEL = "PRIVATE KEY"
# Any PEM armour: "-----BEGIN <label>-----", newlines or (JWT_PRIVATE_KEY form) spaces around it.
PEM_RE = re.compile(r"^-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----$", re.S)
FIX_PKCS1 = "convert it with `openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out NEW.pem`"


class AuthKeyError(ValueError):
    """The key is unusable for Convex Auth. Messages never contain key material."""


def normalize_pem(text, source):
    """Return a PKCS#8 PEM (newlines, 64-column body) from PEM text or the JWT_PRIVATE_KEY form.

    Refuses other PEM labels with a message that says what they are and how to convert them.
    """
    if not isinstance(text, str) or not text.strip():
        raise AuthKeyError("%s is empty: expected an RSA private key as a PKCS#8 PEM "
                           "(-----BEGIN PRIVATE KEY-----)." % source)
    match = PEM_RE.match(text.strip())
    if not match:
        raise AuthKeyError("%s is not a PEM: expected an RSA private key as a PKCS#8 PEM "
                           "(-----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY-----), with newlines or, "
                           "as in JWT_PRIVATE_KEY, spaces between the lines." % source)
    label, body, end_label = match.group(1).strip(), match.group(2), match.group(3).strip()
    if label != end_label:
        raise AuthKeyError("%s is a damaged PEM: it begins with %r and ends with %r." % (source, label, end_label))
    if label == "RSA PRIVATE KEY":
        raise AuthKeyError("%s is a PKCS#1 key (-----BEGIN RSA PRIVATE KEY-----); Convex Auth imports PKCS#8 "
                           "(-----BEGIN PRIVATE KEY-----): %s." % (source, FIX_PKCS1))
    if label == "ENCRYPTED PRIVATE KEY":
        raise AuthKeyError("%s is an encrypted PKCS#8 key; Convex Auth needs it unencrypted: decrypt it with "
                           "`openssl pkcs8 -in OLD.pem -out NEW.pem` and keep it in a vault instead." % source)
    if label != PKCS8_LABEL:
        raise AuthKeyError("%s is a PEM of type %r, not a private key: expected an RSA private key as a "
                           "PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)." % (source, label))
    b64 = re.sub(r"\s+", "", body)
    try:
        base64.b64decode(b64, validate=True)
    except (ValueError, TypeError):
        raise AuthKeyError("%s has a PEM body that is not base64." % source)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % "\n".join(lines)


def load_private_key(text, source):
    """Return the RSA private key object from PKCS#8 PEM text; refuse anything else."""
    pem = normalize_pem(text, source)
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        # The library's message describes the structure, never the key's content.
        raise AuthKeyError("%s is a PKCS#8 PEM that does not parse as a private key (%s)." % (source, exc))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthKeyError("%s is a %s key; Convex Auth signs with RS256 and needs an RSA key. Remove it to let "
                           "a new RSA key be generated (that logs every user out) or give an RSA PKCS#8 PEM."
                           % (source, type(key).__name__.replace("PrivateKey", "").lstrip("_") or "non-RSA"))
    if key.key_size < MIN_KEY_SIZE:
        raise AuthKeyError("%s is a %d-bit RSA key; at least %d bits are required." % (source, key.key_size, MIN_KEY_SIZE))
    return key


def generate_private_key(key_size):
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def pkcs8_pem(key):
    """The key as a PKCS#8 PEM, what jose's exportPKCS8 writes."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def jwt_private_key_value(pem):
    """JWT_PRIVATE_KEY as the upstream script prints it: trimEnd(), newlines as spaces."""
    return pem.rstrip().replace("\n", " ")


def _b64url_uint(number):
    raw = number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key):
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


def jwks_value(key):
    """JWKS as the upstream script prints it: {"keys":[{"use":"sig","kty":"RSA","n":...,"e":...}]}."""
    jwk = public_jwk(key)
    ordered = {"use": "sig", "kty": jwk["kty"], "n": jwk["n"], "e": jwk["e"]}
    return json.dumps({"keys": [ordered]}, separators=(",", ":"))


def fingerprint(key):
    """SHA-256 of the public key (SubjectPublicKeyInfo DER), hex: names a key without revealing it."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
