"""Microphone mode: talk to a voice agent through a real (or virtual) microphone and speaker. A simulated
inbound call where the caller's audio goes through streaming speech-to-text with end-of-speech detection,
each utterance becomes a voice turn through the engine, and the agent's replies are synthesised and played
as they arrive, cut off when the caller talks over them. Everything audio (numpy, sounddevice, the STT
engines, pyttsx3) is imported lazily, so importing this package needs none of it.
"""
