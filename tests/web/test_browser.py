"""The web browser in a real browser: Debian's chromium driven by Selenium.

On local disk and on S3 (moto), each server started as a user starts it
(``session-storage serve --port 0``, its URL read from the first line): navigate by
clicking, search, open a state, a stream, an OpenAI Agents conversation, a LangGraph
thread and checkpoint, an ADK session; no markup of the store ever runs (a window flag
stays unset); the token and its cookie; 405 for any other method; no request to any
host but the server (Chrome's performance log); and the store is the same, byte for
byte, after browsing. A screenshot of each page is saved under the test's tmp dir.

Without chromium the module is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from session_storage import SessionStorage
from session_storage.pytest_plugin import s3_storage_options

from ..support.cloud import delete_bucket, new_bucket
from ..support.required import unavailable
from ..support.web_stores import XSS, XSS_ID, fill_adk, fill_langgraph, fill_plain
from .test_web_app import snapshot

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "browser-token-1"
KINDS = ("plain", "langgraph", "adk")


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    message = (
        f"the browser tests need {CHROMIUM} and {CHROMEDRIVER} (apt: chromium chromium-driver)"
    )
    unavailable(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Server:
    """One ``session-storage serve`` process; ``url`` is the first line it printed."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "session_storage", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The first line the server printed (read once; it waits for the server)."""
        if self._url is None:
            assert self.process.stdout is not None
            self._url = self.process.stdout.readline().strip()
        if not self._url:
            self.stop()
            raise AssertionError(f"serve printed no URL: {self.process.stderr.read()}")  # type: ignore[union-attr]
        return self._url

    @property
    def origin(self) -> str:
        return "{0.scheme}://{0.netloc}".format(urlsplit(self.url))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


async def _fill(url: str, options: dict[str, Any], kind: str) -> None:
    async with SessionStorage(url, options) as storage:
        fill = {"plain": fill_plain, "langgraph": fill_langgraph, "adk": fill_adk}[kind]
        if kind == "plain":
            await fill_plain(storage, sessions=60, events=250)
        else:
            await fill(storage)


class Site:
    """The servers of one backend, one per store layout, and how to look at the store."""

    def __init__(self, backend: str, stores: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.backend = backend
        self.stores = stores
        self.servers: dict[str, Server] = {}

    def start(self) -> None:
        for kind, (url, options) in self.stores.items():
            args = ["--url", url]
            if options:
                args += ["--options", json.dumps(options)]
            self.servers[kind] = Server(args)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    @property
    def origins(self) -> set[str]:
        return {server.origin for server in self.servers.values()}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module", params=["file", "s3"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Site]:
    import asyncio

    buckets: list[str] = []
    stores: dict[str, tuple[str, dict[str, Any]]] = {}
    endpoint = ""
    if request.param == "file":
        root = tmp_path_factory.mktemp("stores")
        for kind in KINDS:
            stores[kind] = (str(root / kind), {})
    else:
        endpoint = request.getfixturevalue("moto_s3_server")
        for kind in KINDS:
            buckets.append(new_bucket(endpoint))
            stores[kind] = (f"s3://{buckets[-1]}/{kind}", s3_storage_options(endpoint))

    async def fill_all() -> None:
        await asyncio.gather(*(_fill(url, opts, kind) for kind, (url, opts) in stores.items()))

    asyncio.run(fill_all())
    before = _store_state(request.param, stores, endpoint)
    site = Site(request.param, stores)
    site.start()
    try:
        yield site
    finally:
        site.stop()
        # Browsing wrote nothing: not a lock, not a marker, not a byte.
        assert _store_state(request.param, stores, endpoint) == before
        for bucket in buckets:
            delete_bucket(endpoint, bucket)


def _store_state(backend: str, stores: dict[str, tuple[str, dict[str, Any]]], endpoint: str) -> Any:
    if backend == "file":
        return {kind: snapshot(Path(url)) for kind, (url, _) in stores.items()}
    from ..support.cloud import _s3_client

    client = _s3_client(endpoint)
    found = {}
    for url, _ in stores.values():
        bucket = urlsplit(url).netloc
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[f"{bucket}/{item['Key']}"] = (item["ETag"], item["Size"])
    return found


# -- helpers ---------------------------------------------------------------------------


def _by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def _until_replaced(driver: Any, page: Any) -> None:
    """Wait until the page holding element ``page`` has been replaced by the next one.

    Neither a click nor a submit waits for the page it leads to; an element found
    right after may still be one of the old page's.
    """
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(page))


def follow(driver: Any, link: Any) -> None:
    """Click ``link`` (an element), and wait for the page it opens."""
    page = driver.find_element(_by("TAG_NAME"), "html")
    link.click()
    _until_replaced(driver, page)


def click_link(driver: Any, text: str) -> None:
    """Click the link whose text is exactly ``text``, and wait for the page it opens."""
    follow(driver, driver.find_element(_by("LINK_TEXT"), text))


def search_for(driver: Any, text: str) -> None:
    """Type ``text`` in the search box, submit it, and wait for the results page."""
    page = driver.find_element(_by("TAG_NAME"), "html")
    search = driver.find_element(_by("CSS_SELECTOR"), 'input[type="search"]')
    search.send_keys(text)
    search.submit()
    _until_replaced(driver, page)


def text_of(driver: Any, css: str) -> str:
    return str(driver.find_element(_by("CSS_SELECTOR"), css).text)


def check_page(driver: Any, site: Site, shots: Path, name: str) -> None:
    """No script of the store ran, nothing was asked of another host; a screenshot."""
    assert driver.execute_script("return window.__xss === undefined"), name
    assert not driver.find_elements(_by("ID"), "message"), name  # not the error page
    driver.save_screenshot(str(shots / f"{site.backend}-{name}.png"))
    check_requests(driver, site.origins)


def check_requests(driver: Any, origins: set[str]) -> None:
    """Every request the pages made since the last look went to one of ``origins``."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "ws", "wss"):
                assert f"{parts.scheme}://{parts.netloc}" in origins, url


# -- the tests -------------------------------------------------------------------------


def test_sessions_search_state_stream_and_conversation(
    browser: Any, site: Site, shots: Path
) -> None:
    driver = browser
    driver.get(site.servers["plain"].url)
    assert text_of(driver, "h1") == "Sessions"
    assert "user-00" in text_of(driver, "#names")
    check_page(driver, site, shots, "sessions")

    search_for(driver, "user-1")
    names = [a.text for a in driver.find_elements(_by("CSS_SELECTOR"), "#names a")]
    assert names == [f"user-1{i}" for i in range(10)]
    check_page(driver, site, shots, "search")

    driver.get(site.servers["plain"].url)
    click_link(driver, "Next page")
    assert "user-50" in text_of(driver, "#names") and "user-00" not in text_of(driver, "#names")
    driver.back()
    click_link(driver, "user-00")
    assert text_of(driver, "#session-id") == "user-00"
    files = text_of(driver, "#files")
    assert "state.json" in files and "avatar.png" in files and "tail.json" not in files
    streams = text_of(driver, "#streams")
    assert "log 250" in streams and "openai-agents 4" in streams
    check_page(driver, site, shots, "session")

    click_link(driver, "state.json")
    assert "profile" in text_of(driver, "#state") and '"user 0"' in text_of(driver, "#state")
    driver.find_element(_by("XPATH"), "//button[text()='Fold all']").click()
    assert not driver.find_element(_by("CSS_SELECTOR"), "#state details").get_attribute("open")
    check_page(driver, site, shots, "state")
    driver.back()

    click_link(driver, "log")
    first = driver.find_element(_by("CSS_SELECTOR"), "#events li")
    assert first.get_attribute("data-index") == "249" and '"event 249"' in first.text
    assert len(driver.find_elements(_by("CSS_SELECTOR"), "#events > li")) == 100
    check_page(driver, site, shots, "stream")
    click_link(driver, "Older")
    first = driver.find_element(_by("CSS_SELECTOR"), "#events li")
    assert first.get_attribute("data-index") == "149"
    click_link(driver, "Older")
    indices = [
        e.get_attribute("data-index")
        for e in driver.find_elements(_by("CSS_SELECTOR"), "#events > li")
    ]
    assert indices[0] == "49" and indices[-1] == "0"
    assert not driver.find_elements(_by("ID"), "older")
    driver.get(site.servers["plain"].url)
    click_link(driver, "user-00")
    click_link(driver, "log")
    click_link(driver, "Follow")
    assert driver.find_element(_by("CSS_SELECTOR"), 'meta[http-equiv="refresh"]')
    check_page(driver, site, shots, "follow")

    driver.get(site.servers["plain"].url)
    click_link(driver, "user-00")
    click_link(driver, "openai-agents")
    conversation = text_of(driver, "#conversation")
    assert "What is the weather in Paris?" in conversation
    assert "get_weather" in conversation and "sunny, 21 C" in conversation
    assert "It is sunny in Paris." in conversation
    check_page(driver, site, shots, "conversation")


def test_markup_in_the_store_never_runs(browser: Any, site: Site, shots: Path) -> None:
    driver = browser
    driver.get(site.servers["plain"].url)
    search_for(driver, "x<img")
    click_link(driver, XSS_ID)
    assert text_of(driver, "#session-id") == XSS_ID
    check_page(driver, site, shots, "xss-session")
    click_link(driver, f"{XSS}.json")
    assert XSS in text_of(driver, "#state")
    check_page(driver, site, shots, "xss-state")
    driver.back()
    click_link(driver, XSS)
    assert XSS in text_of(driver, "#events")
    check_page(driver, site, shots, "xss-stream")
    driver.back()
    click_link(driver, "openai-agents")
    assert XSS in text_of(driver, "#conversation")
    check_page(driver, site, shots, "xss-conversation")


def test_a_langgraph_thread_and_checkpoint(browser: Any, site: Site, shots: Path) -> None:
    driver = browser
    driver.get(site.servers["langgraph"].url)
    assert text_of(driver, "h1") == "Threads"
    check_page(driver, site, shots, "langgraph-threads")
    click_link(driver, "thread-1")
    rows = driver.find_elements(_by("CSS_SELECTOR"), "#checkpoints tbody tr")
    assert len(rows) >= 6
    steps = [int(r.find_elements(_by("TAG_NAME"), "td")[1].text) for r in rows]
    assert steps == sorted(steps, reverse=True)  # newest first
    check_page(driver, site, shots, "langgraph-thread")
    follow(driver, rows[0].find_element(_by("CSS_SELECTOR"), "a.checkpoint"))
    values = text_of(driver, "#values")
    assert '"echo:hello"' in values and '"left:2"' in values
    assert "messages" in text_of(driver, "#changes")
    check_page(driver, site, shots, "langgraph-checkpoint")
    follow(driver, driver.find_element(_by("ID"), "parent"))
    assert driver.find_element(_by("ID"), "checkpoint-id").text
    driver.get(site.servers["langgraph"].url)
    click_link(driver, XSS_ID)
    follow(driver, driver.find_element(_by("CSS_SELECTOR"), "a.checkpoint"))
    assert XSS in text_of(driver, "#values")
    check_page(driver, site, shots, "langgraph-xss")


def test_an_adk_app_user_and_session(browser: Any, site: Site, shots: Path) -> None:
    driver = browser
    driver.get(site.servers["adk"].url)
    assert text_of(driver, "h1") == "Apps"
    click_link(driver, "weather-app")
    check_page(driver, site, shots, "adk-users")
    click_link(driver, "alice")
    check_page(driver, site, shots, "adk-sessions")
    click_link(driver, "session-1")
    events = driver.find_elements(_by("CSS_SELECTOR"), "#adk-events > li")
    assert len(events) == 3
    assert "user" in events[0].text and "Bye" in events[0].text  # newest first
    assert "weather_agent" in events[1].text and "Hello!" in events[1].text
    assert "turns" in events[0].text
    assert '"Paris"' in text_of(driver, "#adk-state")
    check_page(driver, site, shots, "adk-session")
    driver.back()
    click_link(driver, XSS_ID)
    assert XSS in text_of(driver, "#adk-events")
    check_page(driver, site, shots, "adk-xss")


def test_other_methods_are_refused_from_the_page(browser: Any, site: Site) -> None:
    driver = browser
    driver.get(site.servers["plain"].url)
    statuses = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        Promise.all(["POST", "PUT", "DELETE", "PATCH"].map(
            (m) => fetch("/session?id=user-00", {method: m}).then((r) => r.status)
        )).then(done);
        """
    )
    assert statuses == [405, 405, 405, 405]
    check_requests(driver, site.origins)


def test_a_token_is_asked_for_then_kept_in_a_cookie(browser: Any, tmp_path: Path) -> None:
    # The token does not depend on the backend: checked once, on local disk.
    import asyncio

    store = tmp_path / "store"
    asyncio.run(_fill(str(store), {}, "plain"))
    server = Server(["--url", str(store), "--token", TOKEN])
    try:
        assert server.url == f"{server.origin}/?token={TOKEN}"
        driver = browser
        driver.delete_all_cookies()
        driver.get(server.origin + "/")
        assert "401" in driver.find_element(_by("TAG_NAME"), "body").text
        driver.get(server.url)
        assert driver.current_url == server.origin + "/"  # the token left the address bar
        assert text_of(driver, "h1") == "Sessions"
        cookie = driver.get_cookie("session_storage_token")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        click_link(driver, "user-00")
        assert text_of(driver, "#session-id") == "user-00"
        driver.save_screenshot(str(tmp_path / "token.png"))
        driver.delete_all_cookies()
        driver.refresh()
        assert "401" in driver.find_element(_by("TAG_NAME"), "body").text
        check_requests(driver, {server.origin})
    finally:
        server.stop()


def test_the_screenshot_in_the_docs_is_a_png() -> None:
    image = Path(__file__).parents[2] / "docs" / "images" / "serve.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
