"""Opaque ids with the platform's prefixes (``agt_``, ``num_``, ``call_`` ...).

One :class:`IdFactory` per emulator; give it a seed and every id is reproducible run to run.
"""

from __future__ import annotations

import random
import secrets


class IdFactory:
    def __init__(self, seed: int | None = None) -> None:
        self._random: random.Random | None = random.Random(seed) if seed is not None else None

    def token(self, nbytes: int) -> str:
        if self._random is None:
            return secrets.token_hex(nbytes)
        return self._random.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def new(self, prefix: str, nbytes: int = 12) -> str:
        return f"{prefix}_{self.token(nbytes)}"

    def digits(self, count: int) -> str:
        rng = self._random or random.SystemRandom()
        return "".join(str(rng.randrange(10)) for _ in range(count))

    def choice(self, options: list[str]) -> str:
        rng = self._random or random.SystemRandom()
        return rng.choice(options)
