"""Verified identities: a site's own backend vouches for its logged-in customer, and the widget passes
that on. Pure functions over plain data, no I/O; docs/embedding.md is the website owner's side of it.

The site's backend computes, with the site's identity secret (created and rotated by an operator,
site_admin.py)::

    signature = hex(HMAC-SHA256(secret, f"{id}\\n{email}\\n{expires}"))

``email`` is empty when none is vouched for; ``expires`` is a time in unix seconds at most
``MAX_AHEAD`` ahead. The host page hands ``{id, email, expires, signature}`` to the widget, which sends
it with `start` (and `earlier`, `transcript`). ``verify`` trusts it only if the signature is right for
one of the site's secrets (the current one, or the previous one during its grace period after a
rotation), compared in constant time, and the time is not past. What the three parts mean is fixed
by the newlines between them: an id cannot contain a newline (the protocol refuses control characters),
so ``("a\\nb", "")`` and ``("a", "b")`` never sign the same text.

Why this scheme (Intercom's and Crisp's "identity verification" sign the id alone, with no expiry):
- the email is signed with the id, so that a signature for one customer's id cannot carry another's
  email, and agents can trust the address they reply to;
- ``expires`` bounds a leaked signature (a cached page, a shared screenshot of the devtools) to its
  short life: after it, a replay is refused; the bound on how far ahead keeps a site from issuing
  signatures that never die;
- the secret is per site and random (``new_secret``), so a signature made for site A fails on site B.
  The configuration file names each site's secret in an environment variable of its own; two sites
  given the same secret there are refused when the file is read (config.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

#: How far in the future ``expires`` may be: a day, plus five minutes for the site's clock running ahead.
MAX_AHEAD = 24 * 3600
CLOCK_SKEW = 5 * 60
#: After a rotation, the previous secret stays valid this long (unless an operator ends it at once), so
#: that the site's backend can be deployed with the new one without refusing everyone meanwhile.
GRACE = 24 * 3600
#: A secret we generate starts with this, so that a leaked one is easy to recognise.
SECRET_PREFIX = "wsi_"  # noqa: S105 - a prefix, not a secret
MIN_SECRET = 32  # characters: what an operator's own secret (from the file's environment) must have

#: A verified visitor's key (``Visitor.key``): the same on every device, and unlike a browser's random
#: key (``secrets.token_urlsafe``, no ":") it can never be handed out in a visitor token (tokens.py).
VERIFIED_KEY_PREFIX = "verified:"


class IdentityRefused(Exception):
    """An identity the server does not trust; ``code`` and ``message`` go into the `error` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IdentitySecrets:
    """A site's secrets. ``previous`` is accepted until ``previous_until`` (unix seconds; None: as long
    as it is configured, which is how the file's ``previous_secret_env`` works)."""

    current: str
    previous: str | None = None
    previous_until: int | None = None

    def accepted(self, now: float) -> list[str]:
        keys = [self.current]
        if self.previous and (self.previous_until is None or now < self.previous_until):
            keys.append(self.previous)
        return keys

    def in_grace(self, now: float) -> bool:
        return len(self.accepted(now)) > 1

    def __repr__(self) -> str:  # never a secret in a log line or a traceback's locals
        return f"IdentitySecrets(current={fingerprint(self.current)}, previous_until={self.previous_until})"


@dataclass(frozen=True)
class Claim:
    """An identity as the widget sent it, not yet verified."""

    id: str
    email: str
    expires: int
    signature: str | None


@dataclass(frozen=True)
class VerifiedIdentity:
    id: str
    email: str | None

    @property
    def key(self) -> str:
        return VERIFIED_KEY_PREFIX + self.id

    def to_json(self) -> dict[str, str]:
        obj = {"id": self.id}
        if self.email:
            obj["email"] = self.email
        return obj


def message(identity_id: str, email: str, expires: int) -> bytes:
    return f"{identity_id}\n{email}\n{expires}".encode()


def sign(secret: str, identity_id: str, email: str, expires: int) -> str:
    """What the site's backend computes (and the tests, as a site would)."""
    return hmac.new(secret.encode(), message(identity_id, email, expires), hashlib.sha256).hexdigest()


def verify(claim: Claim, site_secrets: IdentitySecrets | None, now: float) -> VerifiedIdentity:
    """The identity, if the site's backend signed it and it has not expired; else ``IdentityRefused``."""
    if site_secrets is None:
        raise IdentityRefused(
            "identity_not_enabled",
            "This site does not verify identities: an operator creates its identity secret first.",
        )
    if not claim.signature:
        raise IdentityRefused(
            "identity_unsigned",
            "The identity has no signature: the site's backend signs it with the site's identity secret.",
        )
    if claim.expires <= now:
        raise IdentityRefused(
            "identity_expired", "The identity's signature has expired: the page must be signed again."
        )
    if claim.expires > now + MAX_AHEAD + CLOCK_SKEW:
        raise IdentityRefused("identity_invalid", "The identity's 'expires' may be at most 24 hours ahead.")
    given = claim.signature.lower().encode()
    # Every accepted secret is tried, whichever matches: the time taken does not say which one did.
    matched = False
    for secret in site_secrets.accepted(now):
        expected = sign(secret, claim.id, claim.email, claim.expires).encode()
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise IdentityRefused(
            "identity_invalid",
            "The identity's signature is not valid for this site, this id and this email.",
        )
    return VerifiedIdentity(claim.id, claim.email or None)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def fingerprint(secret: str) -> str:
    """Eight hex digits that tell secrets apart (on the admin page, in the audit log) without giving
    anything of them away."""
    return hashlib.sha256(b"widget_server identity secret\n" + secret.encode()).hexdigest()[:8]
