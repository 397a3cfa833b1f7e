"""Variet's user settings (`variet.toml`); the tier catalogue has its own module, `variet.shared.tiers`.

The file is TOML validated by frozen pydantic models that reject unknown keys. A bad file raises
`ConfigError` naming the file and the dotted key. Any setting in `variet.toml` can be overridden by an
environment variable `VARIET_<SECTION>_<KEY>` (for example `VARIET_ENGINE_URL`). Secrets never live in
TOML: they come from environment variables or from files readable only by their owner (mode 0600).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from variet.shared.errors import ConfigError
from variet.shared.paths import cache_dir, config_dir
from variet.shared.secrets import read_secret_file, secret_from
from variet.shared.tiers import explain, read_toml

if TYPE_CHECKING:
    from variet.assistant.settings import DiscordSettings
    from variet.shared.tiers import TierCatalogue

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "RESERVED_PEER_NAME",
    "EngineSettings",
    "GoogleAccount",
    "GoogleSettings",
    "McpSettings",
    "OutboundMode",
    "PeerSettings",
    "RouterSettings",
    "SearchSettings",
    "Settings",
    "config_path",
    "load_settings",
]

RESERVED_PEER_NAME = "local"
"""The contract's name for this engine's own box (`variet.contract.LOCAL_BOX`), which no peer may take; spelled
out here so that reading settings does not load the contract's models (MCP servers start against a clock)."""

DEFAULT_CONFIG_PATH = config_dir() / "variet.toml"
DEFAULT_ENGINE_LISTEN = "127.0.0.1:8000"
DEFAULT_ENGINE_URL = "http://127.0.0.1:8000"
DEFAULT_SEARCH_URL = "http://127.0.0.1:8888"
DEFAULT_TIERS_FILE = "tiers.toml"
DEFAULT_PROMPT_CACHE_DIR = str(cache_dir() / "prompt-cache")
DEFAULT_PROMPT_CACHE_MAX_BYTES = 16 * 1024**3
"""16 GiB: a few long coding-agent prefixes per tier on Machine A (a 16k-token prefix of a dense tier takes
about 1-4 GB at q8_0), a small share of a home machine's NVMe drive."""
DEFAULT_PROMPT_CACHE_MIN_TOKENS = 1024
"""Shorter prefixes are processed again in a second or two even on a dense tier: not worth a file."""
DEFAULT_PEER_CONNECT_SECONDS = 3.0
DEFAULT_PEER_POLL_SECONDS = 2.0
DEFAULT_PEER_REQUEST_SECONDS = 600.0

SECTION_CONFIG = ConfigDict(extra="forbid", frozen=True, defer_build=True)
"""Every section's model config: unknown keys are errors, values never change, validators built on first use."""
_STRICT = SECTION_CONFIG

OutboundMode = Literal["ask", "block", "allow"]
"""What happens to a tool call that could carry private data out: ask the user, refuse it, or let it go."""


class PeerSettings(BaseModel):
    """`[[engine.peers]]`: another Variet engine (another box) whose tiers this engine serves as well."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    """Short name of the box; its tiers are also addressed as `NAME/TIER`, and status shows it."""
    url: str
    """The peer engine's base URL, `http(s)://HOST:PORT` (no path, no credentials: the key goes in a file)."""
    api_key_file: str | None = None
    """File (mode 0600) holding the peer engine's API key; none when the peer needs no key."""
    connect_timeout_seconds: float = Field(default=DEFAULT_PEER_CONNECT_SECONDS, gt=0)
    """A peer that does not accept a connection, or answer a status poll, within this is counted as down."""
    poll_seconds: float = Field(default=DEFAULT_PEER_POLL_SECONDS, gt=0)
    """How often the peer's status (its loaded tier, up or down) is read while it is up; while it is down,
    retries back off from a quarter of this to five times it."""
    request_timeout_seconds: float = Field(default=DEFAULT_PEER_REQUEST_SECONDS, gt=0)
    """Longest a relayed request waits for the peer's answer to begin (the peer may be swapping)."""

    @field_validator("name")
    @classmethod
    def _not_local(cls, name: str) -> str:
        if name == RESERVED_PEER_NAME:
            raise ValueError(f"{RESERVED_PEER_NAME!r} names this engine's own box; call the peer something else")
        return name

    @field_validator("url")
    @classmethod
    def _plain_url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} must be an http:// or https:// URL such as http://192.168.1.20:8000")
        if parts.username or parts.password:
            raise ValueError("put the peer's key in api_key_file (mode 0600), not in the URL")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"{url!r} must be the engine's base URL, without a path")
        try:
            parts.port  # noqa: B018 - raises for a bad port
        except ValueError as exc:
            raise ValueError(f"{url!r} has an invalid port") from exc
        return url.rstrip("/")


class EngineSettings(BaseModel):
    """`[engine]`: where the engine listens and how it runs llama-server."""

    model_config = _STRICT

    url: str = DEFAULT_ENGINE_URL
    """Where clients (MCP servers, doctor) reach the engine."""
    listen: str = DEFAULT_ENGINE_LISTEN
    """HOST:PORT the engine binds. A non-loopback host requires an API key."""
    api_key_file: str | None = None
    """File (mode 0600) holding the API key; `VARIET_ENGINE_API_KEY` takes precedence."""
    tiers_file: str = DEFAULT_TIERS_FILE
    """Tier catalogue, relative to this settings file; the packaged one when the default file is absent."""
    llama_server: str | None = None
    """Path to llama-server; default: the build cached by `variet engine install-llama-server`."""
    backend_port: int = Field(default=0, ge=0, le=65535)
    """Loopback port for llama-server; 0 picks a free one."""
    models_max: int = Field(default=1, ge=1)
    """Tiers loaded at once (llama-server `--models-max`)."""
    max_wait_seconds: float = Field(default=30.0, gt=0)
    """Fairness bound, at most: once a request for another tier has waited as long as a swap to its tier
    takes (measured; the tier's `load_seconds` until then), or this long if that is less, the loaded tier
    stops taking new requests and the engine swaps as soon as its in-flight requests finish."""
    swap_gather_seconds: float = Field(default=0.25, ge=0)
    """Longest the engine holds back a swap away from an idle tier to gather requests sent together (it
    never holds back longer than a tenth of the swap itself); 0 swaps at the first request."""
    load_timeout_seconds: float = Field(default=600.0, gt=0)
    """Give up on a tier load after this long."""
    backend_args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra global llama-server arguments for the preset's `[*]` section."""
    peers: tuple[PeerSettings, ...] = ()
    """Other engines (`[[engine.peers]]`) whose tiers this engine serves too, relaying to them."""
    prompt_cache_dir: str = DEFAULT_PROMPT_CACHE_DIR
    """Folder for the KV caches of long prompt prefixes, saved before a tier is swapped out and restored when
    it comes back; relative to this settings file. They contain your prompts: the folder must be private
    (0700; the engine creates it so and refuses a folder others can read) and every file in it is 0600.
    Empty turns prompt caching off."""
    prompt_cache_max_bytes: int = Field(default=DEFAULT_PROMPT_CACHE_MAX_BYTES, ge=0)
    """Disk space the saved caches may take, all tiers together; the least recently used go first. 0 turns
    prompt caching off."""
    prompt_cache_min_tokens: int = Field(default=DEFAULT_PROMPT_CACHE_MIN_TOKENS, ge=1)
    """Only prefixes at least this many tokens long are saved and restored."""

    @field_validator("peers")
    @classmethod
    def _peer_names_unique(cls, peers: tuple[PeerSettings, ...]) -> tuple[PeerSettings, ...]:
        names = [peer.name for peer in peers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two peers are called {name!r}; give each its own name")
        return peers

    @property
    def prompt_cache_enabled(self) -> bool:
        """Whether prompt caches are saved and restored around swaps."""
        return bool(self.prompt_cache_dir.strip()) and self.prompt_cache_max_bytes > 0


class McpSettings(BaseModel):
    """`[mcp]`: settings every MCP server shares."""

    model_config = _STRICT

    token_file: str | None = None
    """File (mode 0600) with the bearer token for HTTP transport; `VARIET_MCP_TOKEN` takes precedence."""
    allowed_origins: tuple[str, ...] = ()
    """Extra browser origins allowed over HTTP (loopback origins are always allowed)."""
    load_wait_seconds: float = Field(default=120.0, gt=0, le=280)
    """How long a tool waits for a tier swap before answering "still loading" (hosts cut calls at 300 s)."""


class RouterSettings(BaseModel):
    """`[router]`: the tier policy's knobs."""

    model_config = _STRICT

    stay_margin: float = Field(default=0.25, ge=0)
    """Keep the loaded tier when it is adequate and a better one would save less than this share of time."""
    pinned_tier: str | None = None
    """Always use this tier (overrides the policy)."""
    expected_output_tokens: int = Field(default=400, gt=0)
    """Length of a typical medium answer; the router scales it by domain and difficulty to estimate
    generation time."""


class SearchSettings(BaseModel):
    """`[search]`: the SearXNG instance and result handling."""

    model_config = _STRICT

    url: str = DEFAULT_SEARCH_URL
    """Base URL of the SearXNG instance (its `settings.yml` must list `json` under `search.formats`)."""
    timeout_seconds: float = Field(default=15.0, gt=0)
    """How long a search may take before `web_search` gives up."""
    cache_ttl_seconds: float = Field(default=300.0, ge=0)
    """How long identical searches are answered from memory; 0 turns the cache off."""
    cache_size: int = Field(default=256, ge=0)
    """Result pages kept in the cache (least recently used go first); 0 turns it off."""
    max_results: int = Field(default=10, ge=1, le=100)
    """Results `web_search` returns when the caller does not say."""
    allow_private_fetch: bool = False
    """Let `fetch_page` reach loopback, private and link-local addresses (off: SSRF protection)."""
    fetch_allowed_networks: tuple[str, ...] = ()
    """Addresses or CIDR networks `fetch_page` may reach although private (a LAN wiki: `["192.168.1.20"]`)."""
    fetch_max_bytes: int = Field(default=2_000_000, gt=0)
    """`fetch_page` stops downloading after this many bytes (decompressed) and says the page was cut."""
    fetch_max_redirects: int = Field(default=5, ge=0)
    """Redirects `fetch_page` follows, each one checked against the SSRF rules."""
    fetch_timeout_seconds: float = Field(default=20.0, gt=0)
    """Deadline for one whole `fetch_page` call, redirects included."""
    outbound: OutboundMode = "ask"
    """`fetch_page` to a URL whose query string carries long opaque data (a way to smuggle data out):
    `ask` the user (hosts that cannot ask get a refusal), `block` it, or `allow` it. A host that checked the
    call itself (`variet/host-approved`) skips this."""

    @field_validator("fetch_allowed_networks")
    @classmethod
    def _networks_parse(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
        return values


class GoogleAccount(BaseModel):
    """`[google.accounts.NAME]`: a named Google account with its own token file."""

    model_config = _STRICT

    token_file: str
    """Where `variet auth google --account NAME` saves this account's sign-in (mode 0600)."""


class GoogleSettings(BaseModel):
    """`[google]`: OAuth client, token and API endpoints for Calendar and Gmail."""

    model_config = _STRICT

    client_file: str = str(config_dir() / "google-client.json")
    """OAuth client JSON ("Desktop app") downloaded from the Google Cloud console."""
    token_file: str = str(config_dir() / "google-token.json")
    """Authorized-user JSON (`Credentials.to_json()`) written by `variet auth google`, mode 0600."""
    account: str | None = None
    """Use the token of `[google.accounts.NAME]` instead of `token_file` (one server process per account)."""
    api_endpoint: str = "https://www.googleapis.com/"
    """Root URL under which `/calendar/v3/...` and `/gmail/v1/...` live (tests and proxies point it elsewhere)."""
    token_uri: str = "https://oauth2.googleapis.com/token"
    """OAuth token endpoint used for the sign-in code exchange and for refreshing tokens."""
    timezone: str | None = None
    """IANA zone for calendar times (`Europe/Berlin`); default: the primary calendar's zone."""
    calendar_write: bool = False
    """Allow creating, changing and deleting events (adds the `calendar.events` scope)."""
    gmail_compose: bool = False
    """Allow creating drafts (adds the `gmail.compose` scope)."""
    gmail_send: bool = False
    """Allow sending drafts after the user confirms (implies `gmail_compose`)."""
    gmail_modify: bool = False
    """Allow changing labels: archive, mark read (adds the `gmail.modify` scope)."""
    body_max_chars: int = Field(default=20_000, ge=500)
    """Mail bodies longer than this are clipped (with a note saying so)."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Socket timeout for each Google API request."""
    max_retries: int = Field(default=3, ge=0, le=10)
    """Retries after a rate limit (429), or a server error (5xx) on a read, before giving up."""
    retry_base_seconds: float = Field(default=1.0, ge=0)
    """First backoff delay, doubling per retry; a `Retry-After` from Google replaces it (over 30 s: fail)."""
    accounts: dict[str, GoogleAccount] = Field(default_factory=dict)


def _discord_settings() -> type[DiscordSettings]:
    from variet.assistant.settings import DiscordSettings

    return DiscordSettings


_SectionT = TypeVar("_SectionT", bound=BaseModel)


class _Section(Generic[_SectionT]):
    """A `Settings` section: validated from its table when first read, then kept."""

    def __init__(self, model: type[_SectionT] | Callable[[], type[_SectionT]]) -> None:
        self._model = model
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def model(self) -> type[_SectionT]:
        model = self._model
        return model if isinstance(model, type) else model()

    @overload
    def __get__(self, settings: None, owner: type) -> _Section[_SectionT]: ...
    @overload
    def __get__(self, settings: Settings, owner: type) -> _SectionT: ...
    def __get__(self, settings: Settings | None, owner: type) -> _SectionT | _Section[_SectionT]:
        if settings is None:
            return self
        return settings._read(self)


class Settings:
    """The contents of `variet.toml`: one frozen model per section.

    A section is validated when it is first read (a bad one raises `ConfigError` naming the file and the key),
    so an MCP server that reads `[engine]` and `[mcp]` never pays for `[discord]` at start-up. `load_settings`
    validates every section up front unless asked not to. Pass sections as models or as TOML tables.
    """

    engine = _Section(EngineSettings)
    mcp = _Section(McpSettings)
    router = _Section(RouterSettings)
    search = _Section(SearchSettings)
    google = _Section(GoogleSettings)
    discord = _Section(_discord_settings)

    __slots__ = ("_file", "_models", "_tables", "source")

    def __init__(self, *, source: Path | None = None, file: Path | None = None,
                 **sections: BaseModel | Mapping[str, Any]) -> None:
        if unknown := sorted(set(sections) - set(SECTIONS)):
            lines = [f"  {name}: not a section (known: {', '.join(SECTIONS)})" for name in unknown]
            raise ConfigError(f"{file or 'settings'}: invalid settings:\n" + "\n".join(lines))
        self.source = source
        """The file the settings came from; relative paths in it are resolved against its folder."""
        self._file = file or source or Path("variet.toml")
        self._tables = {name: value for name, value in sections.items() if not isinstance(value, BaseModel)}
        self._models: dict[str, BaseModel] = {name: value for name, value in sections.items()
                                              if isinstance(value, BaseModel)}

    def _read(self, section: _Section[_SectionT]) -> _SectionT:
        model = section.model
        known = self._models.get(section.name)
        if known is None:
            try:
                known = model.model_validate(self._tables.get(section.name, {}))
            except ValidationError as exc:
                raise explain(self._file, exc, prefix=f"{section.name}.") from None
            self._models[section.name] = known
        if not isinstance(known, model):
            raise TypeError(f"settings section {section.name!r} must be a {model.__name__}, not {type(known).__name__}")
        return known

    def validated(self) -> Settings:
        """These settings with every section read, so that a bad one fails now; returns itself."""
        for name in SECTIONS:
            getattr(self, name)
        return self

    @classmethod
    def model_validate(cls, data: Mapping[str, Any]) -> Settings:
        """Settings from TOML-like tables, every section validated at once."""
        return cls(**data).validated()

    def model_copy(self, *, update: Mapping[str, Any]) -> Settings:
        """A copy with some sections (or `source`) replaced."""
        sections: dict[str, Any] = {**self._tables, **self._models}
        sections.update({name: value for name, value in update.items() if name != "source"})
        return Settings(source=update.get("source", self.source), file=self._file, **sections)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in Settings.__slots__ and not hasattr(self, name):
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"settings are frozen: cannot set {name!r}")

    def relative_path(self, value: str) -> Path:
        """A path from this file, resolved against the file's folder when relative."""
        path = Path(value).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    def engine_api_key(self) -> str | None:
        """The engine API key from `VARIET_ENGINE_API_KEY` or the private `api_key_file`."""
        file = self.engine.api_key_file
        return secret_from("VARIET_ENGINE_API_KEY", self.relative_path(file) if file else None)

    def peer_api_key(self, peer: PeerSettings) -> str | None:
        """A peer engine's API key from its private `api_key_file`; None when it has none."""
        if peer.api_key_file is None:
            return None
        return read_secret_file(self.relative_path(peer.api_key_file))

    def tiers(self) -> TierCatalogue:
        """Load the tier catalogue this settings file points at (the packaged one if it is absent)."""
        from variet.shared.tiers import load_tiers, packaged_tiers

        path = self.relative_path(self.engine.tiers_file)
        if not path.exists() and self.engine.tiers_file == DEFAULT_TIERS_FILE:
            path = packaged_tiers()
        return load_tiers(path)


SECTIONS: dict[str, _Section[Any]] = {
    name: value for name, value in vars(Settings).items() if isinstance(value, _Section)
}
"""The sections of `variet.toml`, by table name."""


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The settings file in effect: `--config`, else `VARIET_CONFIG`, else `variet.toml` in `config_dir()`
    (`~/.config/variet`, `%APPDATA%\\variet` on Windows)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("VARIET_CONFIG")
    if env:
        return Path(env).expanduser()
    return DEFAULT_CONFIG_PATH.expanduser()


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`VARIET_<SECTION>_<KEY>=value` pairs as nested TOML-like values (typed by pydantic later)."""
    out: dict[str, dict[str, Any]] = {}
    for var, value in environ.items():
        if not var.startswith("VARIET_"):
            continue
        rest = var[len("VARIET_") :].lower()
        section, _, key = rest.partition("_")
        if section not in SECTIONS or not key:
            continue
        fields = SECTIONS[section].model.model_fields
        if key not in fields or key == "accounts":
            continue
        out.setdefault(section, {})[key] = _coerce_env(value, fields[key].annotation)
    return out


def _coerce_env(value: str, annotation: Any) -> Any:
    """An environment value for a field: TOML (`[12, 34]`, `{ a = "b" }`) where the field holds a tuple or a dict,
    else the text as given (pydantic reads numbers and booleans from text itself)."""
    if not _is_container(annotation):
        return value
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value  # pydantic then names the variable's key and what it expected


def _is_container(annotation: Any) -> bool:
    """Whether a field's type is a tuple or a dict, also inside `Annotated[...]` or `X | None`."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_container(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_is_container(arg) for arg in get_args(annotation))
    return origin in (tuple, dict) or annotation in (tuple, dict)


def load_settings(path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None,
                  lazy: bool = False) -> Settings:
    """Load `variet.toml` (see `config_path`) with environment overrides applied.

    A missing default file is fine (all defaults); a missing file that was named explicitly is an error. Every
    section is validated now, or with `lazy` when first read (an MCP server reads two or three of them).
    """
    environ = os.environ if environ is None else environ
    named = path or environ.get("VARIET_CONFIG")
    file = Path(named).expanduser() if named else DEFAULT_CONFIG_PATH.expanduser()
    source: Path | None = None
    data: dict[str, Any] = {}
    if named or file.exists():
        data = read_toml(file)
        source = file.resolve()
    for section, values in _env_overrides(environ).items():
        data.setdefault(section, {}).update(values)
    for name, table in data.items():
        if name in SECTIONS and not isinstance(table, dict):
            raise ConfigError(f"{file}: invalid settings:\n  {name}: must be a table ([{name}])")
    settings = Settings(source=source, file=file, **data)
    return settings if lazy else settings.validated()
