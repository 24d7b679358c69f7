"""Pydantic wire models, one module per resource, cased exactly as the real API is on the wire."""
