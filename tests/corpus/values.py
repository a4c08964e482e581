"""Variable parts of error messages: each a function of a ``random.Random`` (the corpus is seeded).

What varies from one occurrence of an error to the next in real traffic: the spelling of one
host (name, IPv4, bracketed IPv6 with a port), customers' hosts under any TLD, ids that mix
letters and digits after a prefix, hex ids that look like numbers (``1e0``), amounts, dates.
"""

from __future__ import annotations

import base64
import random
import string
import uuid
from typing import Any, Callable

Gen = Callable[[random.Random], Any]

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
TLDS = ("app", "dev", "io", "ai", "tech", "xyz", "engineering", "co.uk", "shop", "cloud", "com", "net", "de", "fr")
COMPANIES = ("soylent", "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "wonka", "stark", "tyrell")


def pick(*values: Any) -> Gen:
    return lambda r: r.choice(values)


def num(lo: int, hi: int) -> Gen:
    return lambda r: r.randint(lo, hi)


def hexid(lo: int, hi: int | None = None) -> Gen:
    """Lowercase hex; some start with digits then 'e' (1e0…), which a number rule can misread."""
    def gen(r: random.Random) -> str:
        n = r.randint(lo, hi or lo)
        if r.random() < 0.2:
            return str(r.randint(1, 9)) + "e" + "".join(r.choice(HEX) for _ in range(n - 2))
        return "".join(r.choice(HEX) for _ in range(n))
    return gen


def prefixed(prefix: str, lo: int, hi: int | None = None, alphabet: str = B62) -> Gen:
    """``org-1ec``, ``po_xBnrCXqFm0J4H8uGHm2VdM0n``, ``acct_CguLxWCMEghqyeh4``."""
    return lambda r: prefix + "".join(r.choice(alphabet) for _ in range(r.randint(lo, hi or lo)))


def uuid4() -> Gen:
    return lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4))


def spelled(name: str, ipv4: str, ipv6: str, port: int) -> Gen:
    """One host in the spellings it takes in messages: name, IPv4, bracketed IPv6 with a port."""
    return pick(name, ipv4, f"{name}:{port}", f"{ipv4}:{port}", f"[{ipv6}]:{port}", f"[{ipv6}]")


def customer_host(*labels: str) -> Gen:
    """A customer's host under any TLD (callback.soylent.app, hooks.acme.engineering)."""
    return lambda r: f"{r.choice(labels or ('callback', 'hooks', 'notify'))}.{r.choice(COMPANIES)}.{r.choice(TLDS)}"


def ip4(r: random.Random) -> str:
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def email(r: random.Random) -> str:
    return f"{r.choice(['ana', 'bo', 'chen', 'dev', 'eli'])}{r.randint(1, 999)}@{r.choice(COMPANIES)}.{r.choice(TLDS)}"


def date_text(r: random.Random) -> str:
    y, m, d = r.randint(2019, 2026), r.randint(1, 12), r.randint(1, 28)
    return r.choice([f"{d:02d}/{m:02d}/{y}", f"{y}/{m:02d}/{d:02d}", f"{y}-{m + 12:02d}-{d:02d}", f"{d}.{m}.{y}"])


def words(*choices: str) -> Gen:
    return pick(*choices)


def amount(r: random.Random) -> str:
    return f"{r.randint(1, 9999)}.{r.randint(0, 99):02d}"


def pod(deployment: str) -> Gen:
    """A Kubernetes pod of a deployment: ``api-7d9f8b6c5-x2kqp`` (replica set hash, pod suffix)."""
    consonants = "bcdfghjklmnpqrstvwxz2456789"
    return lambda r: (f"{deployment}-{''.join(r.choice('0123456789bcdf') for _ in range(r.randint(9, 10)))}"
                      f"-{''.join(r.choice(consonants) for _ in range(5))}")  # fmt: skip


def iso_time(r: random.Random) -> str:
    return (f"2025-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
            f"{r.randint(0, 59):02d}{r.choice(['Z', '.%06dZ' % r.randint(0, 999999), '+00:00'])}")  # fmt: skip


def day(r: random.Random) -> str:
    return f"{r.randint(2024, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"


def b64token(lo: int, hi: int) -> Gen:
    """A url-safe base64 token (password reset links, API cursors)."""
    return lambda r: base64.urlsafe_b64encode(r.randbytes(r.randint(lo, hi))).decode().rstrip("=")


def semver(r: random.Random) -> str:
    return f"{r.randint(1, 4)}.{r.randint(0, 30)}.{r.randint(0, 12)}"


def ip6(r: random.Random) -> str:
    return f"fd00:{r.randint(1, 0xffff):x}:{r.randint(0, 0xffff):x}::{r.randint(1, 0xffff):x}"
