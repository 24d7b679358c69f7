"""The telephone line's named profiles (plain data, no numpy: the CLI lists them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineProfile:
    """What a line does to a caller's voice (see :mod:`.line` for the order it is done in).

    ``codec`` "none" with no ``band``, no noise and no loss is no line at all: 16 kHz passes untouched.
    """

    name: str
    description: str
    codec: str = "ulaw"  # "ulaw", "alaw" (G.711 at 8 kHz) or "none"
    band: tuple[float, float] | None = (300.0, 3400.0)  # the channel's passband, Hz; None: up to 3.6 kHz
    noise: str = "none"  # "none", "white", "pink", "babble", "cafe"
    snr_db: float | None = None  # the noise this far below the caller's active speech level
    loss: float = 0.0  # share of 20 ms packets lost (0-1)
    loss_burst: float = 1.0  # mean length of a loss burst, in packets
    gain_db: float = 0.0  # the level change (a quiet handset: negative)


PROFILES: dict[str, LineProfile] = {
    profile.name: profile
    for profile in (
        LineProfile("clean", "no line: the caller's 16 kHz audio as it is", codec="none", band=None),
        LineProfile(
            "landline",
            "G.711 μ-law, 300-3400 Hz, a quiet room (pink noise at 35 dB SNR)",
            noise="pink",
            snr_db=35.0,
        ),
        LineProfile(
            "landline-alaw", "as landline, with A-law (Europe)", codec="alaw", noise="pink", snr_db=35.0
        ),
        LineProfile(
            "mobile",
            "μ-law, 2% of packets lost, street noise at 20 dB SNR, 6 dB quieter",
            noise="pink",
            snr_db=20.0,
            loss=0.02,
            loss_burst=1.5,
            gain_db=-6.0,
        ),
        LineProfile(
            "mobile-weak",
            "μ-law, 8% of packets lost in bursts, noise at 12 dB SNR, 12 dB quieter",
            noise="pink",
            snr_db=12.0,
            loss=0.08,
            loss_burst=3.0,
            gain_db=-12.0,
        ),
        LineProfile(
            "speakerphone-cafe",
            "μ-law, a café's babble and cups at 10 dB SNR, 1% loss",
            noise="cafe",
            snr_db=10.0,
            loss=0.01,
            gain_db=-3.0,
        ),
    )
}
"""Named profiles, mildest first."""
