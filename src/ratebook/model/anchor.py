"""Anchors: the audit chain's head, written down outside the database and optionally signed.

The chain proves that no entry was changed in place; it cannot prove that its newest entries
were not cut off, nor that every hash was recomputed after a forged entry. An anchor kept
elsewhere (a file, a ticket, an e-mail) can: a later chain must still hold the anchored entry,
with the anchored hash. A signature binds the anchor to a key the database never sees: HMAC-
SHA256 with a shared secret, or Ed25519 with a private key (verified with the public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class AnchorError(ValueError):
    """An anchor file or key that cannot be used, or a signature that does not verify.

    Attributes:
        code: ``BAD_ANCHOR``, ``BAD_ANCHOR_KEY`` or ``ANCHOR_SIGNATURE``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchor:
    """The chain's head at one moment.

    Attributes:
        sequence: the id of the newest entry.
        hash: that entry's hash.
        at: when the anchor was taken (UTC, ISO 8601).
        signature: ``hmac-sha256:<hex>`` or ``ed25519:<base64>`` over ``payload()``, or None.
    """

    sequence: int
    hash: str
    at: str
    signature: str | None = None

    def payload(self) -> bytes:
        """The bytes a signature covers."""
        body = {"sequence": self.sequence, "hash": self.hash, "at": self.at}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        """The anchor as JSON text (what ``ratebook audit anchor`` writes)."""
        body: dict[str, object] = {"sequence": self.sequence, "hash": self.hash, "at": self.at}
        if self.signature is not None:
            body["signature"] = self.signature
        return json.dumps(body, indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class AnchorKey:
    """A signing or verifying key: an HMAC secret, or an Ed25519 private or public key."""

    secret: bytes | None = None
    private: Ed25519PrivateKey | None = None
    public: Ed25519PublicKey | None = None


def load_key(data: bytes) -> AnchorKey:
    """A key from a key file's bytes: a PEM Ed25519 key (private or public), else the whole
    file (surrounding blanks removed) as an HMAC secret.

    Raises:
        AnchorError: ``BAD_ANCHOR_KEY``.
    """
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            if b"PRIVATE KEY" in data:
                key = serialization.load_pem_private_key(data, password=None)
                if isinstance(key, Ed25519PrivateKey):
                    return AnchorKey(private=key, public=key.public_key())
            else:
                public = serialization.load_pem_public_key(data)
                if isinstance(public, Ed25519PublicKey):
                    return AnchorKey(public=public)
        except ValueError as exc:
            raise AnchorError("BAD_ANCHOR_KEY", f"the key file is not a usable PEM: {exc}") from exc
        raise AnchorError("BAD_ANCHOR_KEY", "a PEM key must be an Ed25519 key")
    secret = data.strip()
    if len(secret) < 16:
        raise AnchorError("BAD_ANCHOR_KEY", "an HMAC secret must be at least 16 bytes")
    return AnchorKey(secret=secret)


def sign(anchor: Anchor, key: AnchorKey) -> Anchor:
    """``anchor`` with its signature by ``key`` (HMAC secret or Ed25519 private key).

    Raises:
        AnchorError: ``BAD_ANCHOR_KEY`` for a public key, which cannot sign.
    """
    payload = anchor.payload()
    if key.secret is not None:
        mac = hmac.new(key.secret, payload, hashlib.sha256).hexdigest()
        signature = f"hmac-sha256:{mac}"
    elif key.private is not None:
        signature = "ed25519:" + base64.b64encode(key.private.sign(payload)).decode()
    else:
        raise AnchorError("BAD_ANCHOR_KEY", "a public key can verify an anchor, not sign one")
    return Anchor(sequence=anchor.sequence, hash=anchor.hash, at=anchor.at, signature=signature)


def check_signature(anchor: Anchor, key: AnchorKey) -> None:
    """Check ``anchor``'s signature with ``key``.

    Raises:
        AnchorError: ``ANCHOR_SIGNATURE`` when it is missing or does not verify.
    """
    kind, _, value = (anchor.signature or "").partition(":")
    payload = anchor.payload()
    if kind == "hmac-sha256" and key.secret is not None:
        expected = hmac.new(key.secret, payload, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, value):
            return
    elif kind == "ed25519" and key.public is not None:
        try:
            key.public.verify(base64.b64decode(value), payload)
            return
        except (InvalidSignature, ValueError):
            pass
    raise AnchorError(
        "ANCHOR_SIGNATURE",
        "the anchor's signature does not verify with this key"
        if anchor.signature
        else "the anchor is not signed",
    )


def parse_anchor(text: str) -> Anchor:
    """An anchor from its JSON text.

    Raises:
        AnchorError: ``BAD_ANCHOR``.
    """
    try:
        body = json.loads(text)
        return Anchor(
            sequence=int(body["sequence"]),
            hash=str(body["hash"]),
            at=str(body["at"]),
            signature=None if body.get("signature") is None else str(body["signature"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorError("BAD_ANCHOR", f"not an anchor file: {exc}") from exc
