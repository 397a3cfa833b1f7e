"""`GET /ui`: the engine's dashboard, one static page (HTML, CSS and a small script) shipped in the package.

The page and its assets hold no data, so they load without the API key; the script then reads
`/variet/status`, `/v1/models` and `/variet/events` and calls the load and unload endpoints like any other
client, sending the key the user typed (kept in the browser's session storage) in a header. The page is told
only whether the engine wants a key, so it can ask for one before its first call instead of failing it.
"""

from __future__ import annotations

from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["PUBLIC_PATHS", "dashboard_routes", "dashboard_url"]

_ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
PUBLIC_PATHS = frozenset({"/ui", *(f"/ui/{name}" for name in _ASSETS)})
"""The only paths the engine serves without its API key, besides /health."""

# Nothing inline, nothing from elsewhere: the script and the styles come from these files, data from this engine.
_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def dashboard_routes(*, key_required: bool) -> list[Route]:
    """The page at /ui and its assets at /ui/NAME, read from the package once."""
    folder = resources.files("variet.engine.http").joinpath("ui")
    page = folder.joinpath("index.html").read_bytes().replace(
        b"{{key}}", b"required" if key_required else b"none")
    assets = {name: (folder.joinpath(name).read_bytes(), kind) for name, kind in _ASSETS.items()}

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_HEADERS)

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            raise HTTPException(404)
        return Response(found[0], media_type=found[1], headers=_HEADERS)

    return [Route("/ui", index, methods=["GET"]), Route("/ui/{name}", asset, methods=["GET"])]


def dashboard_url(host: str, port: int) -> str:
    """Where a browser on this machine finds the dashboard of an engine bound to `host:port`."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/ui"
