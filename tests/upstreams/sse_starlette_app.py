"""An SSE upstream built on sse-starlette, for the gateway tests.

Run: python3 -m uvicorn sse_starlette_app:app --app-dir tests/upstreams --port PORT

GET /sse?count=N&interval_ms=M&retry=R&ping=S&sep=lf
    Events with ids k = last+1 ..= last+N and data "event {k}", where last is the
    request's Last-Event-ID (0 without one); N=0 never ends (default 10). One every M ms
    (default 0). With retry=R the first event carries "retry: R". sse-starlette's own
    keep-alive pings come every S seconds (default 3600, so none in a test). Lines end in
    CRLF, sse-starlette's default, unless sep=lf.
"""

import asyncio

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


async def sse(request: Request) -> EventSourceResponse:
    try:
        last = int(request.headers.get("last-event-id", "0"))
    except ValueError:
        last = 0
    count = _int(request, "count", 10)
    interval = _int(request, "interval_ms", 0) / 1000
    retry = request.query_params.get("retry")
    sep = "\n" if request.query_params.get("sep") == "lf" else None

    async def events():
        k = last + 1
        while count == 0 or k <= last + count:
            if k > last + 1 and interval:
                await asyncio.sleep(interval)
            first = k == last + 1
            yield ServerSentEvent(
                data=f"event {k}",
                id=str(k),
                retry=int(retry) if first and retry is not None else None,
                sep=sep,
            )
            k += 1

    return EventSourceResponse(events(), ping=_int(request, "ping", 3600), sep=sep)


async def healthz(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


app = Starlette(routes=[Route("/sse", sse), Route("/healthz", healthz)])
