"""One Google API (Calendar v3 or Gmail v1) for one account, with Google's failures translated once.

The token file is the authorized-user JSON that `variet auth google` writes (mode 0600). Each server loads
it with only the scopes its settings need, so the access tokens it mints on refresh are narrowed to that
server. Every API call runs in a worker thread (the Google client is blocking), with a fresh httplib2
connection per call (httplib2 is not thread-safe). Google libraries are imported lazily: server start-up
must stay fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import anyio
import anyio.to_thread

from variet.servers.google.errors import (
    GoogleApiError,
    GoogleAuthError,
    GoogleError,
    GoogleNotFound,
    GoogleRateLimited,
    GoogleScopeError,
    GoogleUnavailable,
)
from variet.servers.google.scopes import AUTH_PREFIX, WRITE_SETTING, Service, scopes_for
from variet.servers.google.tokens import TESTING_EXPIRY_NOTE, auth_command, load_token_info, token_path
from variet.shared.config import Settings
from variet.shared.secrets import write_private_file

__all__ = ["GoogleApi"]

log = logging.getLogger("variet.google")

_API_PATH = {"calendar": ("calendar", "v3", "calendar/v3/"), "gmail": ("gmail", "v1", "")}
_MAX_BACKOFF_SECONDS = 30.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


class GoogleApi:
    """One Google API (Calendar v3 or Gmail v1) for one account.

    Builds the client on first use from the bundled discovery document, pointed at `[google] api_endpoint`.
    `call` runs a request in a worker thread, retries rate limits (and server errors on reads) with bounded
    exponential backoff, and raises `GoogleError`s. Safe to use from concurrent tasks.
    """

    def __init__(
        self,
        settings: Settings,
        service: Service,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.settings = settings
        self.service = service
        self.scopes = scopes_for(settings.google, service)
        self._account = settings.google.account
        self._token_file = token_path(settings)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._client: Any = None
        self._credentials: Any = None
        self._saved_refresh_token: str | None = None

    async def call(self, make: Callable[[Any], Any], *, needs: str | None = None) -> Any:
        """Build a request with `make(client)` and execute it; `needs` names the scope it requires."""
        client = self._client or await self._run(self._build)
        request = make(client)
        google = self.settings.google
        retryable = _RETRY_STATUSES if request.method == "GET" else frozenset({429})
        for attempt in range(google.max_retries + 1):
            try:
                return await self._run(self._execute, request)
            except GoogleError:
                raise
            except Exception as exc:
                status, reason, retry_after = _http_error_facts(exc)
                rate_limited = status == 403 and reason in _RATE_LIMIT_REASONS
                if (status in retryable or rate_limited) and attempt < google.max_retries:
                    delay = retry_after if retry_after is not None else google.retry_base_seconds * 2**attempt
                    if delay <= _MAX_BACKOFF_SECONDS:
                        log.info("%s answered %s; retry %d in %.2f s", self.service, status, attempt + 1, delay)
                        await self._sleep(delay)
                        continue
                self._raise(exc, needs=needs, attempts=attempt + 1)
        raise AssertionError("unreachable")

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        except GoogleError:
            raise
        except Exception as exc:
            if _http_error_facts(exc)[0] is not None:
                raise
            self._raise(exc)

    def _build(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            import httplib2
            from google.oauth2.credentials import Credentials
            from google_auth_httplib2 import AuthorizedHttp
            from googleapiclient.discovery import build

            info = load_token_info(self._token_file, self._account)
            try:
                loaded = Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                    info, scopes=list(self.scopes)
                )
            except ValueError as exc:
                raise GoogleAuthError(
                    f"{self._token_file}: not a valid token file: run `{auth_command(self._account)}`"
                ) from exc
            # from_authorized_user_info always resets token_uri to Google's.
            self._credentials = loaded.with_token_uri(self.settings.google.token_uri)
            self._saved_refresh_token = self._credentials.refresh_token
            name, version, path = _API_PATH[self.service]
            endpoint = self.settings.google.api_endpoint.rstrip("/") + "/" + path
            http = AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=self.settings.google.timeout_seconds))
            self._client = build(
                name,
                version,
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": endpoint},
            )
            return self._client

    def _execute(self, request: Any) -> Any:
        import httplib2
        from google_auth_httplib2 import AuthorizedHttp

        http = AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=self.settings.google.timeout_seconds))
        try:
            log.debug("%s %s", self.service, request.methodId)
            result = request.execute(http=http)
        finally:
            http.close()
        self._keep_rotated_refresh_token()
        return result

    def _keep_rotated_refresh_token(self) -> None:
        token = self._credentials.refresh_token
        with self._lock:
            if not token or token == self._saved_refresh_token:
                return
            info = load_token_info(self._token_file, self._account)
            info["refresh_token"] = token
            write_private_file(self._token_file, json.dumps(info))
            self._saved_refresh_token = token
            log.info("saved the rotated Google refresh token to %s", self._token_file)

    def _raise(self, exc: BaseException, *, needs: str | None = None, attempts: int = 1) -> NoReturn:
        raise _translate(exc, api=self, needs=needs, attempts=attempts) from exc


def _http_error_facts(exc: BaseException) -> tuple[int | None, str | None, float | None]:
    """(status, first error reason, Retry-After seconds) of a googleapiclient HttpError, else Nones."""
    resp = getattr(exc, "resp", None)
    content = getattr(exc, "content", None)
    if resp is None or not isinstance(content, bytes):
        return None, None, None
    reason: str | None = None
    try:
        error = json.loads(content.decode("utf-8"))["error"]
        reasons = [item.get("reason") for item in error.get("errors", []) + error.get("details", [])]
        reason = next((r for r in reasons if r), error.get("status"))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    retry_after: float | None = None
    with contextlib.suppress(TypeError, ValueError):
        retry_after = float(resp.get("retry-after"))
    return int(resp.status), reason, retry_after


def _translate(exc: BaseException, *, api: GoogleApi, needs: str | None, attempts: int) -> GoogleError:
    """Map a google-auth, googleapiclient or socket failure to the `GoogleError` that says what to do."""
    from google.auth.exceptions import RefreshError, TransportError

    again = auth_command(api._account)
    if isinstance(exc, RefreshError):
        text = str(exc.args[0]) if exc.args else ""
        if "invalid_scope" in text:
            wanted = ", ".join(_short(s) for s in api.scopes)
            return GoogleAuthError(
                f"the saved Google sign-in does not cover what the settings now ask for ({wanted}): "
                f"run `{again}` in a terminal to grant it"
            )
        return GoogleAuthError(
            "Google rejected the saved sign-in (it expired or was revoked): "
            f"run `{again}` in a terminal to sign in again. {TESTING_EXPIRY_NOTE}"
        )
    status, reason, _ = _http_error_facts(exc)
    if status is None:
        if isinstance(exc, TransportError | OSError) or type(exc).__module__.startswith("httplib2"):
            return GoogleUnavailable(
                f"could not reach Google at {api.settings.google.api_endpoint} ({type(exc).__name__}): "
                "check the network, or `[google] api_endpoint`"
            )
        raise exc
    what = f"Google {api.service.capitalize()} API"
    if status == 401:
        return GoogleAuthError(f"{what} rejected the sign-in: run `{again}` in a terminal. {TESTING_EXPIRY_NOTE}")
    if status == 403 and reason in _SCOPE_REASONS:
        return GoogleScopeError(_scope_advice(api, needs, again))
    if status == 429 or (status == 403 and reason in _RATE_LIMIT_REASONS):
        return GoogleRateLimited(
            f"{what} is rate-limiting requests ({status}, still after {attempts} attempts): "
            "wait a minute before trying again, and ask for fewer results"
        )
    if status == 404:
        return GoogleNotFound(f"{what}: not found (404): check the id; list or search again to get a current one")
    message = getattr(exc, "reason", "") or "error"
    return GoogleApiError(f"{what} answered {status}: {message}", status=status)


def _short(scope: str) -> str:
    return scope.removeprefix(AUTH_PREFIX)


def _scope_advice(api: GoogleApi, needs: str | None, again: str) -> str:
    if needs is None:
        return f"Google refused: the sign-in lacks a permission this call needs: run `{again}` in a terminal"
    setting = WRITE_SETTING.get(needs)
    head = f"Google refused: the saved sign-in lacks the `{_short(needs)}` permission. "
    if setting is None:
        return head + f"Run `{again}` in a terminal and allow that access."
    if getattr(api.settings.google, setting) or (setting == "gmail_compose" and api.settings.google.gmail_send):
        return head + f"`[google] {setting}` is on but the sign-in predates it: run `{again}` in a terminal."
    return head + (
        f"Set `[google] {setting} = true` in variet.toml (or VARIET_GOOGLE_{setting.upper()}=true), "
        f"restart the server, then run `{again}` in a terminal to grant it."
    )
