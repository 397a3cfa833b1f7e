"""The Variet engine: one port in front of llama-server's router mode, with swap-aware scheduling.

Where to start reading:
- `core.Engine` holds the state (tiers, counters, the scheduler, peers, prompt caches) and knows no HTTP;
- `scheduler` decides and carries out swaps (which tier is loaded, who waits, the fairness bound);
- `errors` is every exception the engine raises, as one tree;
- `http/` is the Starlette app: `app` builds the routes, `relay` sends a request to llama-server (or a peer),
  `streaming` relays streamed answers, `outcome` counts each request, `responses` maps failures to error answers
  and `backend_errors` wraps llama-server's, `metrics` and `dashboard` show what happens;
- `llama/` is llama-server itself: `build` compiles it, `preset` renders its tiers, `launcher` and `backend`
  start and supervise it, `upstream` is the HTTP/1.1 client that talks to it;
- `prompts/` saves and restores prompt caches around swaps; `peers/` serves tiers of engines on other boxes;
- `auto` is the `model: "auto"` choice, `events` the event stream, `serve` the process entry point.
"""
