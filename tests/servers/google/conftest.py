"""The fake Google (tests/fakes/google.py) for these tests."""

from tests.fakes.google import _google_server, google_fake

__all__ = ["_google_server", "google_fake"]
