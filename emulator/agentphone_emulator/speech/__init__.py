"""Speech that sounds like a phone call: English recognition (Whisper), a neural voice (Piper),
and a model of the telephone line between the caller and the recogniser; and what microphone mode
(``mic/``) and the console's audio socket (``api/control_audio.py``) share: the recognisers
(``stt.py``), the end of speech (``segmenter.py``), the listener's events, the browser bridge
(``bridge_*.py``) and the call record with its scenario writer. It imports nothing above the engine.

The heavy parts come from the ``speech`` extra (``pip install 'agentphone-emulator[speech]'``); the
line model needs only numpy (the ``audio`` extra). Nothing here imports a model library at import
time: each loader says in one line what is missing (:class:`~.install.SpeechUnavailable`).
"""
