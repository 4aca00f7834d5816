"""The draw algorithm on its own: a re-implementation written from the words of docs/contests.md gives
the same winners, the entry hash moves with any change of the entries, verification catches tampering,
and a weighted draw's winner frequencies over many seeds follow the weights (Pearson's chi-square)."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from scipy import stats

from patron.contests import draw


def spec_draw(seed_hex: str, entries: list[tuple[int, int]], k: int) -> list[int]:
    """docs/contests.md, "The draw", step by step, with nothing taken from the module under test."""
    ordered = sorted(entries)
    text = "".join(f"{c}:{n}\n" for c, n in ordered).encode()
    digest = hashlib.sha256(text).hexdigest()
    key = bytes.fromhex(seed_hex)
    winners = []
    r = 0
    while len(winners) < k and ordered:
        total = sum(n for _, n in ordered)
        limit = 2**256 - 2**256 % total
        t = 0
        while True:
            x = int(hmac.new(key, f"{digest}:{r}:{t}".encode(), "sha256").hexdigest(), 16)
            if x < limit:
                break
            t += 1
        target = x % total
        running = 0
        for i, (customer, n) in enumerate(ordered):
            running += n
            if running > target:
                winners.append(customer)
                ordered.pop(i)
                break
        r += 1
    return winners


ENTRIES = [(17, 3), (4, 1), (250, 5), (9, 2), (31, 1), (8, 4)]


def test_commitment_is_the_sha256_of_the_seed_bytes():
    seed = "00" * 31 + "01"
    assert draw.commitment(seed) == hashlib.sha256(bytes(31) + b"\x01").hexdigest()
    assert len(draw.new_seed()) == 64 and draw.new_seed() != draw.new_seed()


def test_the_documented_algorithm_gives_the_same_winners():
    for i in range(50):
        seed = hashlib.sha256(f"seed {i}".encode()).hexdigest()
        assert draw.draw_winners(seed, ENTRIES, 3) == spec_draw(seed, list(ENTRIES), 3)
    # more prizes than entrants: everyone wins once, in a seeded order
    seed = hashlib.sha256(b"all").hexdigest()
    everyone = draw.draw_winners(seed, ENTRIES, 10)
    assert sorted(everyone) == sorted(c for c, _ in ENTRIES) and everyone == spec_draw(
        seed, list(ENTRIES), 10
    )


def test_the_same_winners_as_the_plain_walk_on_larger_draws():
    # many entrants with uneven counts, and as many prizes as entrants: every position of the order
    rng = random.Random(11)
    entries = [(rng.randrange(1, 10**9), rng.randint(1, 50)) for _ in range(300)]
    entries = list(dict(entries).items())
    for i in range(5):
        seed = hashlib.sha256(f"large {i}".encode()).hexdigest()
        assert draw.draw_winners(seed, entries, len(entries)) == spec_draw(seed, list(entries), len(entries))


def test_the_entry_hash_is_the_hash_of_the_documented_text_and_moves_with_any_change():
    text = "4:1\n8:4\n9:2\n17:3\n31:1\n250:5\n"
    assert draw.entries_hash(ENTRIES) == hashlib.sha256(text.encode()).hexdigest()
    assert draw.entries_hash(reversed(ENTRIES)) == draw.entries_hash(ENTRIES)  # order given does not matter
    changed = [(17, 3), (4, 1), (250, 5), (9, 2), (31, 2), (8, 4)]  # one more entry for customer 31
    assert draw.entries_hash(changed) != draw.entries_hash(ENTRIES)
    assert draw.entries_hash([*ENTRIES[:-1], (7, 4)]) != draw.entries_hash(ENTRIES)  # another customer


def test_bad_entry_lists_are_refused():
    with pytest.raises(ValueError, match="listed twice"):
        draw.entries_hash([(1, 1), (1, 2)])
    with pytest.raises(ValueError, match="at least 1"):
        draw.draw_winners("00" * 32, [(1, 0)], 1)


def test_verification_reproduces_the_winners_and_catches_every_kind_of_tampering():
    seed = draw.new_seed()
    published = {"seed": seed, "published_commitment": draw.commitment(seed), "entries": ENTRIES,
                 "published_entries_hash": draw.entries_hash(ENTRIES), "prizes": 3,
                 "published_winners": draw.draw_winners(seed, ENTRIES, 3)}  # fmt: skip
    assert draw.verify(**published).ok
    other_seed = draw.new_seed()
    assert not draw.verify(**published | {"seed": other_seed}).commitment_matches
    padded = [*ENTRIES, (999, 50)]
    assert not draw.verify(**published | {"entries": padded}).entries_hash_matches
    winners = published["published_winners"]
    assert not draw.verify(
        **published | {"published_winners": [winners[1], winners[0], winners[2]]}
    ).winners_match


def test_winner_frequencies_follow_the_weights():
    # 8000 seeded draws of one winner among customers holding 1, 2, 3 and 4 entries: the first winner's
    # frequencies must fit the expected 10 %, 20 %, 30 %, 40 % (scipy.stats.chisquare, 3 df).
    entries = [(1, 1), (2, 2), (3, 3), (4, 4)]
    draws = 8000
    counts = dict.fromkeys((1, 2, 3, 4), 0)
    for i in range(draws):
        seed = hashlib.sha256(f"frequency {i}".encode()).hexdigest()
        counts[draw.draw_winners(seed, entries, 1)[0]] += 1
    observed = [counts[c] for c in (1, 2, 3, 4)]
    expected = [draws * n / 10 for n in (1, 2, 3, 4)]
    result = stats.chisquare(observed, expected)
    assert result.pvalue > 0.001, (observed, result)
    # and the same test rejects a draw that ignored the weights (all four equally often)
    assert stats.chisquare([2000, 2000, 2000, 2000], expected).pvalue < 1e-6


def test_second_winner_is_drawn_without_replacement_from_the_rest():
    # with 1 and 9 entries the 1-entry customer wins first ~10 % of the time and is then the second
    # winner whenever not the first: the pair is always both customers
    for i in range(200):
        seed = hashlib.sha256(f"pair {i}".encode()).hexdigest()
        assert sorted(draw.draw_winners(seed, [(1, 1), (2, 9)], 2)) == [1, 2]
