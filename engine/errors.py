"""Every exception the engine raises on purpose, as one tree; the message says what failed and what to do.

    VarietError                   (variet.shared.errors: the base of every Variet error)
    └── EngineFailure             something the engine could not do
        ├── BackendFailure        the local llama-server
        │   ├── BackendDown           it is not running (crashed, restarting, or the engine is stopping)
        │   ├── TierLoadError         a tier could not be loaded
        │   ├── SlotError             a slot save, restore or listing failed (the prompt cache skips it)
        │   └── PortTaken             something else answers on the port chosen for it (start-up picks another)
        ├── UpstreamError         an HTTP exchange with llama-server or a peer failed or broke off
        │   └── NoResponse            the connection closed before any answer (nothing generated: a retry is safe)
        ├── PeerUnavailable       a peer engine cannot take a request now
        ├── UnknownTier           a tier name that neither this engine nor a peer serves
        ├── PromptStoreUnusable   the prompt cache folder cannot be used (the engine runs without the cache)
        ├── GgufError             a model file is no GGUF the engine can read (also a ValueError)
        ├── MemoryPlanError       the resident tiers do not fit beside the swapping ones (also a ConfigError)
        └── LlamaBuildError       fetching or building llama-server failed (`variet engine install-llama-server`)
            └── CrossToolchainError   the cross toolchain for `--target windows` is missing or incomplete

Third-party exceptions become these where the engine meets the third party, with `raise ... from exc`:
socket and parser errors in `variet.engine.llama.upstream`, httpx2's in `variet.engine.llama.backend` and
`variet.engine.peers.registry`. The ones a client can meet become HTTP answers in one place,
`variet.engine.http.responses.failure_response`.
"""

from __future__ import annotations

from variet.shared.errors import ConfigError, VarietError

__all__ = [
    "BackendDown",
    "BackendFailure",
    "CrossToolchainError",
    "EngineFailure",
    "GgufError",
    "LlamaBuildError",
    "MemoryPlanError",
    "NoResponse",
    "PeerUnavailable",
    "PortTaken",
    "PromptStoreUnusable",
    "SlotError",
    "TierLoadError",
    "UnknownTier",
    "UpstreamError",
]


class EngineFailure(VarietError):
    """Something the engine could not do."""


class BackendFailure(EngineFailure):
    """The local llama-server failed at something."""


class BackendDown(BackendFailure):
    """llama-server is not running (crashed or restarting), or the engine is shutting down."""


class TierLoadError(BackendFailure):
    """A tier could not be loaded; the message says why and what to fix."""


class SlotError(BackendFailure):
    """llama-server refused or failed a slot call, or did not answer it within its time."""


class PortTaken(BackendFailure):
    """Something other than our llama-server answers on the port chosen for it."""


class UpstreamError(EngineFailure):
    """The connection to llama-server (or a peer) failed or broke."""


class NoResponse(UpstreamError):
    """The server closed the connection before answering; nothing was generated, so a retry is safe."""


class PeerUnavailable(EngineFailure):
    """A peer cannot take a request now; the message names the peer and what to check."""


class UnknownTier(EngineFailure):
    """No tier of this engine or of a peer goes by the name; the message lists the ones that do."""


class PromptStoreUnusable(EngineFailure):
    """The prompt cache folder cannot be used (shared with others, locked by another engine, not writable)."""


class GgufError(EngineFailure, ValueError):
    """The file is no GGUF model we can read; the message says which file and why."""


class MemoryPlanError(EngineFailure, ConfigError):
    """The resident tiers cannot fit beside the largest swapping tier on some GPU; the message has the numbers."""


class LlamaBuildError(EngineFailure):
    """Downloading or building llama-server failed."""


class CrossToolchainError(LlamaBuildError):
    """The cross toolchain for `--target windows` is missing or incomplete."""
