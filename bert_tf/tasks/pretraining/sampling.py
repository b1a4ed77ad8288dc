"""Random draws identical to `random.Random`'s, without the method-call overhead.

`fast_shuffle` and `fast_randbelow` make the same `getrandbits` calls as `random.Random.shuffle` and
`random.Random.randint`, so they reproduce the original tool's random sequence exactly;
`fast_draws_match_library` checks that once against this Python's `random` (callers fall back to the
library calls when it does not hold).
"""
import random
from typing import Dict, List, Optional, Tuple

_SHUFFLE_PLANS: Dict[int, List[Tuple[int, int, int]]] = {}
_MAX_PLANNED_SHUFFLE = 4096  # longer lists (the final shuffle of all records) are not tabulated


def _shuffle_plan(length: int) -> List[Tuple[int, int, int]]:
    """(i, i + 1, (i + 1).bit_length()) for i = length-1 .. 1: the steps of `random.shuffle`."""
    plan = _SHUFFLE_PLANS.get(length)
    if plan is None:
        plan = [(index, index + 1, (index + 1).bit_length()) for index in range(length - 1, 0, -1)]
        _SHUFFLE_PLANS[length] = plan
    return plan


def fast_shuffle(items: list, getrandbits) -> None:
    """`random.Random.shuffle(items)` with the same `getrandbits` calls, without method overhead."""
    if len(items) > _MAX_PLANNED_SHUFFLE:
        for index in range(len(items) - 1, 0, -1):
            bound = index + 1
            num_bits = bound.bit_length()
            draw = getrandbits(num_bits)
            while draw >= bound:
                draw = getrandbits(num_bits)
            items[index], items[draw] = items[draw], items[index]
        return
    for index, bound, num_bits in _shuffle_plan(len(items)):
        draw = getrandbits(num_bits)
        while draw >= bound:
            draw = getrandbits(num_bits)
        items[index], items[draw] = items[draw], items[index]


def fast_randbelow(bound: int, getrandbits) -> int:
    """`random.Random._randbelow(bound)` (so `randint(a, b) == a + fast_randbelow(b - a + 1)`)."""
    num_bits = bound.bit_length()
    draw = getrandbits(num_bits)
    while draw >= bound:
        draw = getrandbits(num_bits)
    return draw


_FAST_DRAWS_MATCH: Optional[bool] = None


def fast_draws_match_library() -> bool:
    """True if the inlined draws reproduce this Python's `random.Random` (checked once)."""
    global _FAST_DRAWS_MATCH
    if _FAST_DRAWS_MATCH is None:
        library, inlined = random.Random(20240607), random.Random(20240607)
        matches = True
        for length in (0, 1, 2, 3, 5, 17, 64, 65, 127, 200, _MAX_PLANNED_SHUFFLE + 10):
            expected, actual = list(range(length)), list(range(length))
            library.shuffle(expected)
            fast_shuffle(actual, inlined.getrandbits)
            matches = matches and expected == actual
        for bound in (1, 2, 3, 7, 8, 9, 30522, 1 << 20):
            for _ in range(20):
                matches = matches and library.randint(3, 2 + bound) == 3 + fast_randbelow(
                    bound, inlined.getrandbits)
        _FAST_DRAWS_MATCH = matches and library.random() == inlined.random()
    return _FAST_DRAWS_MATCH
