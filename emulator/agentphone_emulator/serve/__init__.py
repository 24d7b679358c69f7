"""``agentphone-emulator serve``'s parts: who may act on the whole emulator and which apps a request
may import (access.py), and the webhook it points at an app or URL (webhook.py). What keeps a served
emulator alive, its state file and its signals, is serving.py's, below this package: ``mic
--browser`` serves too.
"""
