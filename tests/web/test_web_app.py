"""The web browser's rules, checked over HTTP without a browser: methods, token and
cookie, Host, headers, escaping, downloads, paths that lead nowhere, no writes, and
the requests each page costs on S3 (run with ``-s`` to see them)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_storage import SessionStorage
from session_storage.web import create_app
from session_storage.web.security import COOKIE

from ..support.cloud import RequestLog
from ..support.web_stores import CONVERSATION, XSS, XSS_ID, fill_plain

TOKEN = "s3cret-token"


def _client(app: Any, host: str = "127.0.0.1:8765") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{host}", follow_redirects=False
    )


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``, hidden ones and locks included: size, mtime, digest."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns, digest)
        else:
            found[str(path.relative_to(root)) + "/"] = (0, 0, "")
    return found


@pytest.fixture
async def plain_store(tmp_path: Path) -> AsyncIterator[SessionStorage]:
    async with SessionStorage(tmp_path / "store") as storage:
        await fill_plain(storage, sessions=12, events=250)
        yield storage


async def test_only_get_and_head_are_answered(plain_store: SessionStorage) -> None:
    async with _client(create_app(plain_store, "plain", None)) as client:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
            for path in ("/", "/session?id=user-00", "/nowhere"):
                response = await client.request(method, path)
                assert response.status_code == 405, (method, path)
                assert response.headers["allow"] == "GET, HEAD"
        head = await client.head("/session?id=user-00")
        assert head.status_code == 200 and head.content == b""


async def test_every_answer_carries_the_security_headers(plain_store: SessionStorage) -> None:
    async with _client(create_app(plain_store, "plain", None)) as client:
        for path in ("/", "/static/app.js", "/nowhere", "/download?session=user-00&name=x"):
            response = await client.get(path)
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["cache-control"] == "no-store"


async def test_without_a_token_only_a_loopback_host_is_served(
    plain_store: SessionStorage,
) -> None:
    app = create_app(plain_store, "plain", None)
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        async with _client(app, host) as client:
            assert (await client.get("/")).status_code == 200, host
    async with _client(app, "attacker.example:8765") as client:
        assert (await client.get("/")).status_code == 403  # a rebound DNS name


async def test_a_token_is_needed_as_bearer_or_cookie(plain_store: SessionStorage) -> None:
    async with _client(create_app(plain_store, "plain", TOKEN), "10.0.0.5:80") as client:
        assert (await client.get("/")).status_code == 401
        assert (await client.get("/static/app.css")).status_code == 401
        assert (await client.get("/?token=wrong-token")).status_code == 401
        bad = {"authorization": "Bearer wrong-token"}
        assert (await client.get("/", headers=bad)).status_code == 401
        good = {"authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/session?id=user-00", headers=good)).status_code == 200

        first = await client.get(f"/session?id=user-00&token={TOKEN}")
        assert first.status_code == 303
        assert first.headers["location"] == "/session?id=user-00"  # the token leaves the URL
        cookie = first.headers["set-cookie"]
        assert f"{COOKIE}={TOKEN}" in cookie and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        client.cookies.set(COOKIE, TOKEN)
        assert (await client.get("/session?id=user-00")).status_code == 200
        client.cookies.set(COOKIE, "wrong-token")
        assert (await client.get("/session?id=user-00")).status_code == 401


async def test_ids_and_values_are_text_never_markup(plain_store: SessionStorage) -> None:
    pages = [
        "/",
        f"/session?id={_q(XSS_ID)}",
        f"/file?session={_q(XSS_ID)}&name={_q(XSS + '.json')}",
        f"/stream?session={_q(XSS_ID)}&name={_q(XSS)}",
        f"/stream?session={_q(XSS_ID)}&name=openai-agents",
        f"/session?id={_q(XSS)}",  # a missing one: the 404 page names it
    ]
    async with _client(create_app(plain_store, "plain", None)) as client:
        for page in pages:
            response = await client.get(page)
            assert response.status_code in (200, 404), page
            assert "<img src=x" not in response.text and "<script>window" not in response.text
            assert "&lt;img src=x onerror=window.__xss=1&gt;" in response.text, page


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


async def test_bytes_are_downloaded_never_rendered(plain_store: SessionStorage) -> None:
    async with _client(create_app(plain_store, "plain", None)) as client:
        response = await client.get("/download?session=user-00&name=notes.html")
        assert response.status_code == 200 and response.content == XSS.encode()
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.html"
        page = await client.get("/file?session=user-00&name=notes.html")
        assert "Not JSON" in page.text and "<img" not in page.text


async def test_no_path_leads_outside_the_store(plain_store: SessionStorage, tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text('{"password": "hunter2"}')
    tries = [
        "/static/../app.py",
        "/static/..%2Fapp.py",
        "/static/%2e%2e/%2e%2e/secret.json",
        "/../secret.json",
        "/file?session=..&name=secret.json",
        "/file?session=../..&name=secret.json",
        "/download?session=..&name=secret.json",
        "/download?session=user-00&name=../../secret.json",
        "/session?id=..",
        "/stream?session=..&name=../secret.json",
    ]
    async with _client(create_app(plain_store, "plain", None)) as client:
        for path in tries:
            response = await client.get(path)
            assert response.status_code in (400, 404), (path, response.status_code)
            assert "hunter2" not in response.text and "import" not in response.text


async def test_the_pages_write_nothing(plain_store: SessionStorage, tmp_path: Path) -> None:
    root = tmp_path / "store"
    before = snapshot(root)
    async with _client(create_app(plain_store, "plain", None)) as client:
        for page in _plain_pages():
            assert (await client.get(page)).status_code in (200, 404), page
    assert snapshot(root) == before


def _plain_pages() -> list[str]:
    return [
        "/",
        "/?prefix=user-1",
        "/?after=user-05",
        "/session?id=user-00",
        "/file?session=user-00&name=state.json",
        "/download?session=user-00&name=avatar.png",
        "/stream?session=user-00&name=log",
        "/stream?session=user-00&name=log&before=100",
        "/stream?session=user-00&name=openai-agents",
        "/stream?session=user-00&name=log&follow=1",
        "/session?id=nobody",
        "/stream?session=nobody&name=none",
    ]


async def test_a_conversation_shows_roles_text_and_tools(plain_store: SessionStorage) -> None:
    async with _client(create_app(plain_store, "plain", None)) as client:
        text = (await client.get("/stream?session=user-00&name=openai-agents")).text
    assert CONVERSATION[0]["content"] in text and "It is sunny in Paris." in text
    assert "get_weather" in text and "sunny, 21 C" in text and "call-1" in text


async def test_requests_per_page_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    storage = make_s3_storage()
    async with storage:
        await fill_plain(storage, sessions=60, events=1000)
        figures: dict[str, int] = {}
        async with _client(create_app(storage, "plain", None)) as client:
            await client.get("/")  # connections open
            s3_requests.take()
            for page in _plain_pages():
                assert (await client.get(page)).status_code in (200, 404), page
                figures[page] = len(s3_requests.take())
        # A fresh storage has no sealed segment cached: an old page walks the chain.
        async with SessionStorage.from_settings(storage.settings) as cold:
            async with _client(create_app(cold, "plain", None)) as client:
                await client.get("/static/app.css")
                s3_requests.take()
                await client.get("/stream?session=user-00&name=log&before=200")
                figures["stream page 9 of 10, cold"] = len(s3_requests.take())
                await client.get("/stream?session=user-00&name=log&before=200")
                figures["stream page 9 of 10, again"] = len(s3_requests.take())
    print(f"\nS3 requests per page: {figures}")
    writes = [r for r in s3_requests.requests if r[0] in ("PUT", "POST", "DELETE")]
    assert writes == []
    assert figures["/"] == figures["/?prefix=user-1"] == figures["/?after=user-05"] == 1
    assert figures["/session?id=user-00"] == 1 + 2  # the listing, then one count per stream
    assert figures["/file?session=user-00&name=state.json"] == 1
    assert figures["/download?session=user-00&name=avatar.png"] == 1
    assert figures["/stream?session=user-00&name=log"] <= 2  # the tail and one segment
    assert figures["/stream?session=user-00&name=openai-agents"] == 1
    # The tail, one LIST of the segments below it, and those the page reaches.
    assert figures["stream page 9 of 10, cold"] <= 2 + 1000 // 128
    assert figures["stream page 9 of 10, again"] == 1  # sealed segments are cached
    assert figures["/session?id=nobody"] == 1
    assert figures["/stream?session=nobody&name=none"] == 2  # the tail, then the listing


async def test_requests_per_framework_page_on_s3(
    make_s3_storage: Callable[..., SessionStorage], s3_requests: RequestLog
) -> None:
    import re

    from session_storage.views import detect

    from ..support.web_stores import fill_adk, fill_langgraph

    figures: dict[str, int] = {}
    async with make_s3_storage() as graph, make_s3_storage() as adk:
        await fill_langgraph(graph)
        await fill_adk(adk)
        s3_requests.take()
        assert await detect(graph) == "langgraph"
        figures["detect langgraph"] = len(s3_requests.take())
        assert await detect(adk) == "adk"
        figures["detect adk"] = len(s3_requests.take())
        async with _client(create_app(graph, "langgraph", None)) as client:
            assert (await client.get("/")).status_code == 200
            figures["threads"] = len(s3_requests.take())
            page = await client.get("/langgraph/thread?thread=thread-1")
            figures["thread"] = len(s3_requests.take())
            shown = re.findall(r"checkpoint\?thread=thread-1&amp;id=([0-9a-f-]+)", page.text)
            figures["checkpoints shown"] = len(shown)
            newest = shown[0]
            response = await client.get(f"/langgraph/checkpoint?thread=thread-1&id={newest}")
            assert response.status_code == 200 and "echo:hello" in response.text
            figures["checkpoint"] = len(s3_requests.take())
        async with _client(create_app(adk, "adk", None)) as client:
            for name, page in (
                ("apps", "/"),
                ("users", "/adk/app?app=weather-app"),
                ("sessions", "/adk/user?app=weather-app&user=alice"),
                ("session", "/adk/session?app=weather-app&user=alice&session=session-1"),
            ):
                assert (await client.get(page)).status_code == 200, page
                figures[name] = len(s3_requests.take())
    print(f"\nS3 requests per framework page: {figures}")
    assert figures["detect langgraph"] == 2 and figures["detect adk"] <= 5
    assert figures["threads"] == 1
    # Two LISTs (namespaces, checkpoints), then two GETs per checkpoint shown.
    assert figures["checkpoints shown"] == 10
    assert figures["thread"] == 2 + 2 * figures["checkpoints shown"]
    # The checkpoint and its parent (for the difference), each 2 requests, plus one GET
    # per older checkpoint holding a piece of a value: at most log2(n) + 1 per value
    # (the saver stores a growing list as the items each checkpoint added).
    shown = figures["checkpoints shown"]
    assert 4 <= figures["checkpoint"] <= 4 + 2 * shown.bit_length()
    assert figures["apps"] == figures["users"] == figures["sessions"] == 1
    assert figures["session"] <= 5


async def test_a_corrupt_file_is_reported_not_shown_as_missing(
    plain_store: SessionStorage,
) -> None:
    await plain_store.store_bytes("user-01", "log/tail.json", b"{not json")
    async with _client(create_app(plain_store, "plain", None)) as client:
        response = await client.get("/stream?session=user-01&name=log")
        assert response.status_code == 502
        assert "user-01" in response.text and "log" in response.text
        detail = await client.get("/session?id=user-01")  # the other files still show
        assert detail.status_code == 200 and "state.json" in detail.text
        assert "unreadable: " in detail.text and "user-01" in detail.text
        assert (await client.get("/file?session=user-01&name=state.json")).status_code == 200
