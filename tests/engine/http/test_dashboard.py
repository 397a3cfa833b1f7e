"""The dashboard at /ui in a real browser (Debian's headless Chromium) against the real engine on the embedded default
(the real SmolLM2 model as `fast`, four tiny generated tiers)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.engine.test_engine import chat
from tests.parts.browser import Browser, open_browser
from tests.parts.engine import RunningEngine, run_engine, write_config
from tests.parts.processes import tree_of
from variet.engine.llama.backend import free_port

pytestmark = [pytest.mark.llama, pytest.mark.browser]

TIERS = ["fast", "balanced", "deep-coder", "deep-logic", "ultra"]
_LONG = 7000  # tokens: the real model generates them for many seconds, within its 8192-token context
# Chromium logs each refused or cut connection while the engine is down; the page handles them.
_NETWORK_ERRORS = ("net::ERR_CONNECTION_REFUSED", "net::ERR_CONNECTION_RESET", "net::ERR_EMPTY_RESPONSE",
                   "net::ERR_INCOMPLETE_CHUNKED_ENCODING", "net::ERR_NETWORK_CHANGED")


def ask(engine: RunningEngine, tier: str) -> None:
    reply = httpx2.post(f"{engine.url}/v1/chat/completions", json=chat(tier), timeout=60)
    assert reply.status_code == 200, reply.text


def cards(driver: WebDriver) -> dict[str, str]:
    """Each tier card's state (loaded, loading, waiting, idle, failed), in page order.

    Read in one script, so a card the page re-renders meanwhile is never half read (a stale element)."""
    pairs = driver.execute_script(
        "return [...document.querySelectorAll('#tiers article.tier')].map(c => [c.dataset.tier, c.dataset.state])")
    return {tier or "": state or "" for tier, state in pairs}


def link(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "link").get_attribute("data-link") or ""


def timeline(driver: WebDriver, selector: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, f"#timeline {selector}"))


def errors(driver: WebDriver) -> list[str]:
    """The error list's entries, read in one script (the list is re-rendered as events arrive)."""
    texts: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#errors li')].map(li => li.innerText)")
    return texts


def button(driver: WebDriver, tier: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, f'article[data-tier="{tier}"] button[data-action]')


def record_states(browser: Browser) -> None:
    """Keep every state each tier card takes, however briefly (a tiny tier loads in tens of milliseconds)."""
    browser.script("""
        window.seenStates = {};
        const note = (card) => (window.seenStates[card.dataset.tier] ??= []).push(card.dataset.state);
        const observer = new MutationObserver((changes) => changes.forEach((change) => note(change.target)));
        observer.observe(document.getElementById('tiers'),
                         {subtree: true, attributes: true, attributeFilter: ['data-state']});
        window.sameDocument = true;
    """)


def seen(browser: Browser, tier: str) -> list[str]:
    return browser.script("return (window.seenStates || {})[arguments[0]] || []", tier)


def open_dashboard(browser: Browser, engine: RunningEngine) -> None:
    browser.get(f"{engine.url}/ui")
    browser.wait("the five tiers", lambda d: list(cards(d)) == TIERS)
    browser.wait("the events stream", lambda d: link(d) == "live")
    record_states(browser)


@contextmanager
def long_stream(engine: RunningEngine, tier: str) -> Iterator[None]:
    """A long stream on `tier` that stays in flight until the block ends: the client reads its first bytes, then
    stops reading, with a small receive buffer, so the relay cannot finish it early into socket buffers."""
    body = json.dumps(chat(tier, stream=True, max_tokens=_LONG, ignore_eos=True)).encode()
    host, port = engine.url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(60)
        client.connect((host, int(port)))
        client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
                       b"content-length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
        assert client.recv(64).startswith(b"HTTP/1.1 200")
        yield  # leaving closes the connection: the engine stops the generation and frees the tier


def test_the_page_shows_every_tier_a_swap_as_it_happens_and_loads_and_unloads_with_its_buttons(
    real_dir: Path, tmp_path: Path,
) -> None:
    with run_engine(write_config(real_dir)) as engine, open_browser(tmp_path / "chromium") as browser:
        open_dashboard(browser, engine)
        driver = browser.driver
        assert set(cards(driver).values()) == {"idle"}
        ask(engine, "fast")
        browser.wait("fast to show as loaded", lambda d: cards(d)["fast"] == "loaded")

        ask(engine, "balanced")  # a request for another tier: a swap
        browser.wait("the swap to balanced to show as loading, then loaded",
                     lambda d: "loading" in seen(browser, "balanced") and cards(d)["balanced"] == "loaded",
                     timeout=5)
        browser.wait("the swap and its request on the timeline", lambda d: (
            timeline(d, 'rect.swap[data-tier="balanced"][data-ok="true"]') == 1
            and timeline(d, 'line.request[data-tier="balanced"][data-waited="true"]') == 1), timeout=5)
        assert cards(driver)["fast"] == "idle"
        for tier in ("deep-logic", "fast", "fast", "ultra", "fast"):  # a little history on the timeline
            ask(engine, tier)
        browser.wait("every request on the timeline", lambda d: timeline(d, "line.request") == 7)

        with long_stream(engine, "fast"):
            browser.wait("the stream to show as running", lambda d: "1 running" in d.find_element(
                By.CSS_SELECTOR, 'article[data-tier="fast"] .counts').text)
            load = button(driver, "deep-coder")
            assert load.text == "Load"
            load.click()
            # As through the API: the load waits for the running stream, it does not cut it off.
            browser.wait("deep-coder's load to wait behind the stream", lambda d: cards(d)["deep-coder"] == "waiting")
            assert engine.status().loaded == "fast"
            driver.find_element(By.CSS_SELECTOR, '[data-window="60"]').click()
            browser.wait("the one-minute window", lambda d: d.find_element(
                By.CSS_SELECTOR, '[data-window="60"]').get_attribute("aria-pressed") == "true")
            shot = browser.screenshot(tmp_path / "dashboard.png")
        browser.wait("deep-coder loaded by its button", lambda d: cards(d)["deep-coder"] == "loaded", timeout=30)
        assert engine.status().loaded == "deep-coder"

        unload = button(driver, "deep-coder")
        assert unload.text == "Unload"
        unload.click()
        browser.wait("every tier idle after Unload", lambda d: set(cards(d).values()) == {"idle"}, timeout=30)
        assert engine.status().loaded is None
        assert browser.script("return window.sameDocument") is True  # all of it without a reload
        assert errors(driver) == []
        assert browser.console_errors() == []
    assert shot.stat().st_size > 10_000


def test_with_a_key_the_page_asks_for_it_shows_nothing_before_and_says_when_it_is_wrong(
    real_dir: Path, tmp_path: Path,
) -> None:
    key = secrets.token_hex(16)
    with run_engine(write_config(real_dir), env={"VARIET_ENGINE_API_KEY": key}) as engine:
        page = httpx2.get(f"{engine.url}/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
        assert re.findall(r"<script[^>]*>", page.text) == ['<script type="module" src="/ui/dashboard.js">']
        assert "style=" not in page.text
        for name, text in [("index.html", page.text)] + [
            (asset, httpx2.get(f"{engine.url}/ui/{asset}").raise_for_status().text)
            for asset in ("dashboard.js", "dashboard.css", "icon.svg")
        ]:
            # Works offline: nothing is fetched from elsewhere (the SVG namespace is a name, not a fetch).
            assert re.findall(r"https?://[^\s'\"]+", text.replace("http://www.w3.org/2000/svg", "")) == [], name
        # Only the page and its files are open: data, control and unknown paths under /ui are not.
        for path in ("/variet/status", "/v1/models", "/variet/events", "/ui/secret.json", "/ui/"):
            assert httpx2.get(f"{engine.url}{path}").status_code == 401, path

        with open_browser(tmp_path / "chromium") as browser:
            driver = browser.driver
            browser.get(f"{engine.url}/ui")
            browser.wait("the key prompt", lambda d: d.find_element(By.ID, "login").is_displayed())
            assert not driver.find_element(By.ID, "main").is_displayed()
            assert cards(driver) == {} and "fast" not in driver.find_element(By.TAG_NAME, "body").text

            field = driver.find_element(By.ID, "key")
            field.send_keys("not-" + key)
            field.submit()
            message = browser.wait("the wrong-key message",
                                   lambda d: d.find_element(By.ID, "key-error").is_displayed()
                                   and d.find_element(By.ID, "key-error").text)
            assert "Wrong API key" in message
            assert cards(driver) == {} and not driver.find_element(By.ID, "main").is_displayed()

            field.send_keys(key)
            field.submit()
            browser.wait("the five tiers once the key is given", lambda d: list(cards(d)) == TIERS)
            browser.wait("the events stream", lambda d: link(d) == "live")
            assert key not in driver.page_source and field.get_attribute("value") == ""
            ask_with_key = httpx2.post(f"{engine.url}/v1/chat/completions", json=chat("fast"),
                                       headers={"authorization": f"Bearer {key}"}, timeout=60)
            assert ask_with_key.status_code == 200
            browser.wait("the swap on the timeline", lambda d: timeline(d, 'rect.swap[data-tier="fast"]') == 1)

            driver.refresh()  # the key lasts for the browser session, so a reload needs no prompt
            browser.wait("the tiers again after a reload", lambda d: cards(d).get("fast") == "loaded")
            assert not driver.find_element(By.ID, "login").is_displayed()
            # Chromium logs the one refused call, the one made with the wrong key; nothing else.
            refused = browser.console_errors()
            assert len(refused) == 1 and "/variet/status" in refused[0] and "401" in refused[0], refused


def test_a_failed_load_and_a_llama_server_restart_show_with_the_engines_messages_and_the_page_carries_on(
    real_dir: Path, tmp_path: Path,
) -> None:
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + os.urandom(4096))
    tiers = (real_dir / "tiers.toml").read_text().replace('"ultra.gguf"', f'"{tmp_path / "broken.gguf"}"')
    (tmp_path / "tiers.toml").write_text(tiers.replace('models_dir = "."', f'models_dir = "{real_dir}"'))
    with run_engine(write_config(tmp_path)) as engine, open_browser(tmp_path / "chromium") as browser:
        open_dashboard(browser, engine)
        driver = browser.driver
        button(driver, "ultra").click()
        failure = browser.wait("the failed load in the errors",
                               lambda d: next((e for e in errors(d) if "Loading ultra failed" in e), None))
        assert "broken.gguf" in failure  # the engine's own message
        browser.wait("ultra marked as failed", lambda d: cards(d)["ultra"] == "failed")
        assert timeline(driver, 'rect.swap[data-tier="ultra"][data-ok="false"]') == 1

        ask(engine, "fast")
        browser.wait("fast loaded", lambda d: cards(d)["fast"] == "loaded")
        pid = engine.status().backend.pid
        assert pid
        os.kill(pid, signal.SIGKILL)
        stopped = browser.wait("llama-server's stop in the errors",
                               lambda d: next((e for e in errors(d) if "llama-server stopped" in e), None))
        assert "the engine restarts it" in stopped and ".log" in stopped
        browser.wait("llama-server's restart", lambda d: any("llama-server restarted" in e for e in errors(d)),
                     timeout=60)
        engine.wait_for("llama-server up", lambda s: s.backend.up, timeout=60)
        assert timeline(driver, 'line.backend[data-kind="down"]') == 1
        assert timeline(driver, 'line.backend[data-kind="up"]') == 1

        ask(engine, "balanced")  # the page still follows the engine
        browser.wait("the next swap, live", lambda d: cards(d)["balanced"] == "loaded"
                     and timeline(d, 'rect.swap[data-tier="balanced"]') == 1)
        assert link(driver) == "live" and browser.script("return window.sameDocument") is True
        browser.wait("the restart in the summary", lambda d: d.find_element(By.ID, "backend").text == "up, 1 restart")
        assert browser.console_errors() == []


def test_the_page_says_the_engine_is_unreachable_while_it_restarts_and_recovers_by_itself(
    real_dir: Path, tmp_path: Path,
) -> None:
    config = write_config(real_dir)
    port = free_port()
    with open_browser(tmp_path / "chromium") as browser:
        driver = browser.driver
        with run_engine(config, port=port) as engine:
            open_dashboard(browser, engine)
            ask(engine, "fast")
            browser.wait("fast loaded", lambda d: cards(d)["fast"] == "loaded")
        browser.wait("engine unreachable", lambda d: link(d) == "unreachable"
                     and d.find_element(By.ID, "link").text == "engine unreachable")
        assert list(cards(driver)) == TIERS  # what it knew stays on the page
        with run_engine(config, port=port) as engine:
            browser.wait("the page to recover by itself", lambda d: link(d) == "live", timeout=30)
            browser.wait("the new engine's state", lambda d: set(cards(d).values()) == {"idle"})
            ask(engine, "balanced")
            browser.wait("a swap on the new engine, live", lambda d: cards(d)["balanced"] == "loaded"
                         and timeline(d, 'rect.swap[data-tier="balanced"][data-ok="true"]') == 1)
            assert timeline(driver, "rect.outage") == 1
        assert browser.script("return window.sameDocument") is True
        assert browser.console_errors(*_NETWORK_ERRORS) == []


def tier_toml(name: str, model: Path, strengths: list[str]) -> str:
    return (f'[tiers.{name}]\nmodel = "{model}"\ncontext = 8192\ntokens_per_second = 1000\nload_seconds = 0.05\n'
            f"strengths = {json.dumps(strengths)}\n\n")


def card_text(driver: WebDriver, tier: str, part: str) -> str:
    """A part of a tier card, read in one script (the card may be re-rendered as events arrive)."""
    selector = f'article[data-tier="{tier}"] {part}'
    text: str | None = driver.execute_script(
        "const found = document.querySelector(arguments[0]); return found ? found.innerText : null", selector)
    if text is None:
        raise NoSuchElementException(selector)
    return text


def skipped(driver: WebDriver, action: str) -> bool:
    """Whether the page lists a skipped prompt-cache `action` (save or restore) of `fast`, with its reason."""
    return any(f"Prompt cache {action} skipped for fast" in entry for entry in errors(driver))


def peers_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "peers").text


def test_the_page_shows_a_peer_going_down_and_back_a_tier_exiting_and_the_prompt_caches_saved_and_restored(
    tiny_dir: Path, tmp_path: Path,
) -> None:
    (tmp_path / "tiers-a.toml").write_text(tier_toml("fast", tiny_dir / "fast.gguf", ["chat", "easy"])
                                           + tier_toml("balanced", tiny_dir / "balanced.gguf", ["chat", "medium"]))
    (tmp_path / "tiers-b.toml").write_text(tier_toml("coder", tiny_dir / "deep-coder.gguf", ["code", "hard"]))
    b_port = free_port()
    peer = f'[[engine.peers]]\nname = "box-b"\nurl = "http://127.0.0.1:{b_port}"\npoll_seconds = 0.25\n'
    a_config = write_config(tmp_path, tiers_file="tiers-a.toml", extra_engine=peer)
    b_config = write_config(tmp_path, tiers_file="tiers-b.toml")
    system = "Rules for this session. " * 120  # about 2900 tokens on the byte-level tiny tiers: worth a cache

    def turn(engine: RunningEngine, tier: str, question: str) -> None:
        body = {"model": tier, "max_tokens": 2,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}]}
        assert httpx2.post(f"{engine.url}/v1/chat/completions", json=body, timeout=60).status_code == 200

    with ExitStack() as box_b, run_engine(a_config) as engine, open_browser(tmp_path / "chromium") as browser:
        box_b.enter_context(run_engine(b_config, port=b_port))
        engine.wait_for("box-b to be up", lambda status: bool(status.peers) and status.peers[0].up)
        browser.get(f"{engine.url}/ui")
        browser.wait("the local tiers and the peer's", lambda d: list(cards(d)) == ["fast", "balanced", "coder"])
        browser.wait("the events stream", lambda d: link(d) == "live")
        record_states(browser)
        driver = browser.driver
        assert peers_text(driver) == "box-b up"
        assert card_text(driver, "coder", ".where") == "peer engine box-b"
        assert not driver.find_element(By.CSS_SELECTOR, 'article[data-tier="fast"] .where').is_displayed()

        turn(engine, "fast", "first question")
        ask(engine, "balanced")  # swapping fast out saves its prompt's cache...
        browser.wait("fast's saved prompt cache", lambda d: re.search(
            r"\bsaved \d+k? tokens", card_text(d, "fast", ".cache")) or skipped(d, "save"))
        turn(engine, "fast", "second question")  # ...and swapping it back in restores it
        # On a loaded machine the engine may skip a slow save or restore: the page then says why.
        browser.wait("fast's restored prompt cache", lambda d: re.search(r"\brestored \d+k? tokens", card_text(
            d, "fast", ".cache")) or skipped(d, "restore") or skipped(d, "save"))

        box_b.close()  # the peer stops
        browser.wait("the peer down, with its tier", lambda d: cards(d)["coder"] == "down"
                     and peers_text(d) == "box-b down")
        assert any("Peer box-b is down" in entry for entry in errors(driver))
        assert card_text(driver, "coder", ".badge") == "box-b down"
        assert not button(driver, "coder").is_enabled()
        with run_engine(b_config, port=b_port):
            browser.wait("the peer back", lambda d: cards(d)["coder"] == "idle" and peers_text(d) == "box-b up",
                         timeout=30)
            assert any("Peer box-b is up" in entry for entry in errors(driver))

            backend: Any = engine.status().backend.pid
            fast = next(pid for pid in tree_of(backend) if pid != backend
                        and "fast.gguf" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
            os.kill(fast, signal.SIGKILL)  # the loaded tier's own process dies; llama-server lives on
            browser.wait("fast's exit", lambda d: any("fast stopped" in entry for entry in errors(d))
                         and cards(d)["fast"] == "idle")
            assert timeline(driver, 'line.exit[data-tier="fast"]') == 1
            assert link(driver) == "live" and browser.script("return window.sameDocument") is True
        assert browser.console_errors() == []


def test_while_the_events_stream_is_live_the_status_poll_only_reconciles(real_dir: Path, tmp_path: Path) -> None:
    with run_engine(write_config(real_dir)) as engine, open_browser(tmp_path / "chromium") as browser:
        open_dashboard(browser, engine)
        ask(engine, "fast")
        browser.wait("fast loaded, from its events", lambda d: cards(d)["fast"] == "loaded")
        polls = """return performance.getEntriesByType('resource')
                     .filter((entry) => entry.name.endsWith('/variet/status')).length"""
        first, since = browser.script(polls), browser.script("return performance.now()")
        # 12 s of a live page on the browser's clock; polling every second, as before, made 12 polls in them.
        browser.wait("12 seconds of a live page",
                     lambda d: browser.script("return performance.now() > arguments[0] + 12000", since), timeout=20)
        assert browser.script(polls) - first <= 4
        assert link(browser.driver) == "live" and browser.driver.find_element(By.ID, "link").get_attribute(
            "data-repairs") == "0"


def test_serve_prints_the_dashboards_address(real_dir: Path) -> None:
    with run_engine(write_config(real_dir)) as engine:
        assert f"dashboard: {engine.url}/ui" in engine.log.read_text()



def test_a_resident_tier_shows_as_resident_through_swaps_and_has_no_load_button(
    coder_dir: Path, tmp_path: Path,
) -> None:
    with run_engine(write_config(coder_dir)) as engine, open_browser(tmp_path / "chromium") as browser:
        engine.wait_for("the resident coder", lambda s: s.residents_loaded == ["coder"])
        browser.get(f"{engine.url}/ui")
        browser.wait("the tiers and the resident", lambda d: list(cards(d)) == [*TIERS, "coder"])
        browser.wait("the events stream", lambda d: link(d) == "live")
        record_states(browser)
        driver = browser.driver
        browser.wait("coder to show as resident", lambda d: cards(d)["coder"] == "resident")
        assert not button(driver, "coder").is_displayed()
        ask(engine, "fast")
        ask(engine, "balanced")
        browser.wait("the swap to balanced to show", lambda d: cards(d)["balanced"] == "loaded")
        assert cards(driver)["coder"] == "resident" and set(seen(browser, "coder")) <= {"resident"}
        badge = driver.find_element(By.CSS_SELECTOR, 'article[data-tier="coder"] .badge').text
        assert badge == "resident"
        assert browser.console_errors() == []
