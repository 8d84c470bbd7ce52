"""The Starlette application of ``session-storage serve``: one route per page.

Each page asks :mod:`session_storage.views` for its values and renders a Jinja
template (autoescaped: every id and value is text). Ids travel in query strings and
reach the store only through the storage's own calls, which encode them: no path of
this server names a file outside the store, and the static files are a fixed set
held in memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import InvalidArgumentError, MissingDependencyError, SessionStorageError
from ..storage import SessionStorage
from ..views import adk, langgraph
from ..views.conversation import turn_of
from ..views.layout import is_conversation
from ..views.store import NamesPage, file_view, names_page, session_detail, stream_page
from .render import tree, when
from .security import SecurityMiddleware

__all__ = ["STATIC", "create_app"]

_HERE = Path(__file__).parent
STATIC: dict[str, tuple[bytes, str]] = {
    name: ((_HERE / "static" / name).read_bytes(), kind)
    for name, kind in (
        ("app.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    )
}
"""Every asset the pages use, read once: nothing else is served from disk."""

Handler = Callable[[Request], Awaitable[Response]]


_Lister = Callable[[SessionStorage, str, "str | None"], Awaitable[NamesPage]]
_HOMES: dict[str, tuple[_Lister, str, str, str, str]] = {
    # layout: (what lists the top names, page title, item noun, link target, query key)
    "langgraph": (langgraph.threads_page, "Threads", "thread", "/langgraph/thread", "thread"),
    "adk": (adk.apps_page, "Apps", "app", "/adk/app", "app"),
    "plain": (names_page, "Sessions", "session", "/session", "id"),
}


def _link(path: str, **query: Any) -> str:
    """``path`` with the query ``query`` (None values left out), every part encoded."""
    given = {k: v for k, v in query.items() if v is not None and v != ""}
    return path + ("?" + urlencode(given, quote_via=quote) if given else "")


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise InvalidArgumentError(f"not an index: {value!r}")
    return int(value)


class Pages:
    """The pages of one storage read as ``kind``."""

    def __init__(self, storage: SessionStorage, kind: str) -> None:
        self.storage = storage
        self.kind = kind
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.globals.update(link=_link, tree=tree, when=when, kind=kind, url=storage.url)
        self.env.globals["is_conversation"] = is_conversation

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**values)
        return HTMLResponse(html, status_code=status)

    def guarded(self, handler: Handler) -> Handler:
        """``handler`` with the store's errors shown as a page (the message as text)."""

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except InvalidArgumentError as exc:
                return self.render("error.html", 400, title="Bad request", message=str(exc))
            except MissingDependencyError as exc:
                return self.render("error.html", 501, title="Missing extra", message=str(exc))
            except SessionStorageError as exc:
                # A corrupt file, a refused credential, a dead endpoint: said, never
                # shown as missing.
                return self.render("error.html", 502, title="Storage error", message=str(exc))
            except Exception as exc:  # noqa: BLE001 (a value a framework cannot decode)
                message = f"{type(exc).__name__}: {exc}"
                return self.render("error.html", 500, title="Cannot show this", message=message)

        return run

    def missing(self, what: str) -> HTMLResponse:
        return self.render("error.html", 404, title="Not found", message=what)

    # -- pages -----------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        q = request.query_params
        prefix, after = q.get("prefix", ""), q.get("after")
        # What the store's layout lists at its top: threads, apps or plain sessions.
        lister, title, item, target, key = _HOMES.get(self.kind, _HOMES["plain"])
        page = await lister(self.storage, prefix, after)
        return self.render(
            "names.html",
            title=title,
            page=page,
            item=item,
            target=target,
            params={},
            key=key,
            here="/",
        )

    async def session(self, request: Request) -> Response:
        session_id = request.query_params.get("id", "")
        detail = await session_detail(self.storage, session_id)
        if not detail.exists:
            return self.missing(f"session {session_id!r} has no files")
        return self.render("session.html", detail=detail)

    async def file(self, request: Request) -> Response:
        q = request.query_params
        session_id, name = q.get("session", ""), q.get("name", "")
        found = await file_view(self.storage, session_id, name)
        if found is None:
            return self.missing(f"session {session_id!r} has no file {name!r}")
        return self.render("file.html", file=found)

    async def download(self, request: Request) -> Response:
        q = request.query_params
        session_id, name = q.get("session", ""), q.get("name", "")
        data = await self.storage.load_bytes(session_id, name)
        if data is None:
            return self.missing(f"session {session_id!r} has no file {name!r}")
        filename = quote(name.rsplit("/", 1)[-1] or "file", safe="")
        headers = {"content-disposition": f"attachment; filename*=UTF-8''{filename}"}
        return Response(data, media_type="application/octet-stream", headers=headers)

    async def stream(self, request: Request) -> Response:
        q = request.query_params
        session_id, name = q.get("session", ""), q.get("name", "")
        page = await stream_page(self.storage, session_id, name, _int(q.get("before")))
        if not page.events and name not in await self.storage.list_streams(session_id):
            return self.missing(f"session {session_id!r} has no stream {name!r}")
        follow = q.get("follow") == "1" and page.newest
        conversation = is_conversation(name) and q.get("raw") != "1"
        turns = [turn_of(e) for e in page.events] if conversation else []
        return self.render(
            "stream.html", page=page, follow=follow, turns=turns, conversation=conversation
        )

    async def lg_thread(self, request: Request) -> Response:
        q = request.query_params
        thread_id, ns = q.get("thread", ""), q.get("ns", "")
        view = await langgraph.thread_view(self.storage, thread_id, ns, q.get("before"))
        if not view.checkpoints and not view.before:
            return self.missing(f"thread {thread_id!r} has no checkpoints in namespace {ns!r}")
        return self.render("lg_thread.html", view=view)

    async def lg_checkpoint(self, request: Request) -> Response:
        q = request.query_params
        thread_id, ns, cid = q.get("thread", ""), q.get("ns", ""), q.get("id", "")
        view = await langgraph.checkpoint_view(self.storage, thread_id, ns, cid)
        if view is None:
            return self.missing(f"thread {thread_id!r} has no checkpoint {cid!r}")
        return self.render("lg_checkpoint.html", view=view)

    async def adk_app(self, request: Request) -> Response:
        q = request.query_params
        app = q.get("app", "")
        page = await adk.users_page(self.storage, app, q.get("prefix", ""), q.get("after"))
        return self.render(
            "names.html",
            title=f"Users of {app}",
            page=page,
            item="user",
            target="/adk/user",
            params={"app": app},
            key="user",
            here=_link("/adk/app", app=app),
        )

    async def adk_user(self, request: Request) -> Response:
        q = request.query_params
        app, user = q.get("app", ""), q.get("user", "")
        page = await adk.sessions_page(self.storage, app, user, q.get("prefix", ""), q.get("after"))
        return self.render(
            "names.html",
            title=f"Sessions of {user} in {app}",
            page=page,
            item="session",
            target="/adk/session",
            params={"app": app, "user": user},
            key="session",
            here=_link("/adk/user", app=app, user=user),
        )

    async def adk_session(self, request: Request) -> Response:
        q = request.query_params
        app, user, sid = q.get("app", ""), q.get("user", ""), q.get("session", "")
        found = await adk.adk_session(self.storage, app, user, sid)
        if found is None:
            return self.missing(f"app {app!r} user {user!r} has no session {sid!r}")
        return self.render("adk_session.html", session=found)

    async def static(self, request: Request) -> Response:
        found = STATIC.get(request.path_params["name"])
        if found is None:
            return self.missing("no such asset")
        body, media_type = found
        return Response(body, media_type=media_type)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.missing(f"no page at {request.url.path!r}")


def create_app(storage: SessionStorage, kind: str, token: str | None) -> Any:
    """The ASGI application browsing ``storage`` (read as ``kind``: ``plain``,
    ``langgraph`` or ``adk``), behind :class:`~.security.SecurityMiddleware`. The
    caller opens and closes the storage."""
    pages = Pages(storage, kind)
    routes = [
        Route(path, pages.guarded(handler), methods=["GET", "HEAD"])
        for path, handler in (
            ("/", pages.home),
            ("/session", pages.session),
            ("/file", pages.file),
            ("/download", pages.download),
            ("/stream", pages.stream),
            ("/langgraph/thread", pages.lg_thread),
            ("/langgraph/checkpoint", pages.lg_checkpoint),
            ("/adk/app", pages.adk_app),
            ("/adk/user", pages.adk_user),
            ("/adk/session", pages.adk_session),
            ("/static/{name}", pages.static),
        )
    ]
    app = Starlette(routes=routes, exception_handlers={404: pages.not_found})
    return SecurityMiddleware(app, token)
