"""``agentphone-emulator serve``: its flags (arguments.py), who may act on the whole emulator and which
apps a request may import (access.py), the webhook it points at an app or URL (webhook.py), and the
command that checks them and serves (command.py). What keeps a served emulator alive, its state
file and its signals, is serving.py's, below this package: ``mic --browser`` serves too.
"""
