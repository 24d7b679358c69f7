"""The package's version, in a module of its own: the OpenAPI document, the saved-state file, the
command line and the reports name it, and importing the root package for it would name ``server``
(and with it every part) from the lowest layers. pyproject.toml's ``version`` must match it."""

__version__ = "0.1.0"
