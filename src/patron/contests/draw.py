"""The auditable draw: a commitment to a secret seed, a hash of the entry list, and a weighted drawing
without replacement that anyone can repeat from the published seed and entries.

This module uses only the standard library and nothing else of Patron, so it can be copied and run on
its own to check a draw (see docs/contests.md, which states the same algorithm in words).

1. When a contest opens, a seed of 32 random bytes is made (``secrets.token_bytes``) and
   ``commitment = SHA-256(seed)`` is published; the seed itself stays secret until the draw.
2. At the draw, the eligible entries are listed as ``(customer_id, count)`` sorted by customer id, and
   ``entries_hash = SHA-256(canonical text)`` where the text has one line ``"<customer_id>:<count>\\n"`` per
   entry (ASCII decimal, no spaces).
3. Winners are drawn one at a time. For draw number ``r`` (0, 1, ...) the remaining entries have the
   total weight ``W`` (the sum of their counts). Compute, for ``t`` = 0, 1, ...::

       x = int.from_bytes(HMAC-SHA256(key=seed, msg=f"{entries_hash}:{r}:{t}"), "big")

   and take the first ``x`` below ``L = 2**256 - (2**256 mod W)`` (so that ``x mod W`` is uniform).
   Then ``target = x mod W``; walking the remaining entries in customer-id order and adding up their
   counts, the winner is the first entry whose running total exceeds ``target``. The winner leaves the
   list and the next draw begins, until there are as many winners as prizes or no entries are left.

A customer with ``k`` entries is thus ``k`` times as likely as one with a single entry to be drawn first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SEED_BYTES = 32
_SPACE = 1 << 256


def new_seed() -> str:
    """A fresh secret seed, as 64 hex digits."""
    return secrets.token_bytes(SEED_BYTES).hex()


def commitment(seed: str) -> str:
    """SHA-256 of the seed's bytes, in hex: published before the draw."""
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def canonical_entries(entries: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The entries sorted by customer id; refuses duplicates and counts below 1."""
    ordered = sorted((int(customer_id), int(count)) for customer_id, count in entries)
    for index, (customer_id, count) in enumerate(ordered):
        if count < 1:
            raise ValueError(f"customer {customer_id} has {count} entries; each entry counts at least 1")
        if index and ordered[index - 1][0] == customer_id:
            raise ValueError(f"customer {customer_id} is listed twice")
    return ordered


def entries_hash(entries: Iterable[tuple[int, int]]) -> str:
    """SHA-256 of the canonical entry list (one ``customer_id:count`` line each), in hex."""
    text = "".join(f"{customer_id}:{count}\n" for customer_id, count in canonical_entries(entries))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _uniform_below(seed: bytes, label: str, bound: int) -> int:
    limit = _SPACE - (_SPACE % bound)
    attempt = 0
    while True:
        digest = hmac.new(seed, f"{label}:{attempt}".encode("ascii"), hashlib.sha256).digest()
        value = int.from_bytes(digest, "big")
        if value < limit:
            return value % bound
        attempt += 1


def draw_winners(seed: str, entries: Iterable[tuple[int, int]], winners: int) -> list[int]:
    """Customer ids of up to ``winners`` winners, in the order drawn (see the module's description).

    The walk "first remaining entry whose running total exceeds the target" is done on a Fenwick tree of
    the counts, which gives the same entry as walking the list in O(log n) instead of O(n) per winner."""
    if winners < 0:
        raise ValueError("winners must be 0 or more")
    ordered = canonical_entries(entries)
    digest = entries_hash(ordered)
    key = bytes.fromhex(seed)
    tree = _Fenwick([count for _, count in ordered])
    total = sum(count for _, count in ordered)
    chosen: list[int] = []
    for round_number in range(min(winners, len(ordered))):
        target = _uniform_below(key, f"{digest}:{round_number}", total)
        index = tree.first_above(target)
        customer_id, count = ordered[index]
        chosen.append(customer_id)
        tree.add(index, -count)
        total -= count
    return chosen


class _Fenwick:
    """Prefix sums of the entries' counts in customer-id order, with removal."""

    def __init__(self, counts: list[int]) -> None:
        self.size = len(counts)
        self.tree = [0] * (self.size + 1)
        for position, count in enumerate(counts, start=1):
            self.tree[position] += count
            parent = position + (position & -position)
            if parent <= self.size:
                self.tree[parent] += self.tree[position]

    def add(self, index: int, delta: int) -> None:
        position = index + 1
        while position <= self.size:
            self.tree[position] += delta
            position += position & -position

    def first_above(self, target: int) -> int:
        """The 0-based index of the first entry whose running total is greater than ``target``."""
        position, left = 0, target
        step = 1 << self.size.bit_length()
        while step:
            upper = position + step
            if upper <= self.size and self.tree[upper] <= left:
                position, left = upper, left - self.tree[upper]
            step >>= 1
        return position


@dataclass(frozen=True)
class Verification:
    """What a re-run of a draw found: each published value recomputed and compared."""

    commitment: str
    commitment_matches: bool
    entries_hash: str
    entries_hash_matches: bool
    winners: list[int]
    winners_match: bool

    @property
    def ok(self) -> bool:
        return self.commitment_matches and self.entries_hash_matches and self.winners_match


def verify(*, seed: str, published_commitment: str, entries: Sequence[tuple[int, int]],
           published_entries_hash: str, prizes: int, published_winners: Sequence[int]) -> Verification:  # fmt: skip
    """Re-run a draw of ``prizes`` winners from its published seed and entries and compare each result
    with what was published."""
    recomputed = commitment(seed)
    digest = entries_hash(entries)
    winners = draw_winners(seed, entries, prizes)
    return Verification(
        commitment=recomputed,
        commitment_matches=hmac.compare_digest(recomputed, published_commitment),
        entries_hash=digest,
        entries_hash_matches=hmac.compare_digest(digest, published_entries_hash),
        winners=winners,
        winners_match=winners == list(published_winners),
    )
