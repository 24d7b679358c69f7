"""In-memory state: records, accounts, and the operations that keep their relations consistent."""
