"""What the platform does on its own: webhook delivery and signing, SMS, voice calls.

Nothing here knows about YAML, pytest or audio.
"""
