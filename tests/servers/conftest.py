"""Fixtures every server's tests may use: the fake Google over real HTTP (tests/fakes/google.py), one uvicorn
for the session and a fresh `google_fake` per test."""

from tests.fakes.google import _google_server, google_fake

__all__ = ["_google_server", "google_fake"]
