"""The demo FastAPI app: the chat page, the chat socket, and the HTTP API around them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.routing import Route, WebSocketRoute

from fast_channels import service
from fast_channels.config import layer_from_env, redis_configured
from fast_channels.demo.consumers import (
    MAX_MESSAGE_LENGTH,
    ChatConsumer,
    chat_event,
    is_valid_room,
    room_group,
)
from fast_channels.demo.events import RoomEventsConsumer
from fast_channels.demo.layer import ROOM_HISTORY, make_layer, unavailable_errors
from fast_channels.demo.worker import (
    DEFAULT_STEP_DELAY,
    JOBS_CHANNEL,
    MAX_STEPS,
    job_request,
    run_worker,
)
from fast_channels.exceptions import ChannelFull
from fast_channels.layers import (
    DEFAULT_CHANNEL_LAYER,
    BaseChannelLayer,
    register_channel_layer,
    unregister_channel_layer,
)

STATIC_DIR = Path(__file__).parent / "static"
# The browser client ships in the package (not in the demo's static files) so that any app can
# serve it or copy it; the demo serves it beside its own scripts.
BROWSER_CLIENT = Path(__file__).parents[1] / "static" / "fast-channels.js"

# Where job progress comes from: a task inside this server, a separate `fast-channels worker`
# process (Redis only: the in-memory layer cannot cross processes), or nowhere.
WorkerMode = Literal["in-process", "external", "none"]
LAYER_UNAVAILABLE = unavailable_errors()


class BroadcastIn(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)


class JobIn(BaseModel):
    channel: str = Field(description="The requesting socket's channel (sent in its welcome)")
    steps: int = Field(default=10, ge=1, le=MAX_STEPS)


def create_app(
    *,
    redis_url: str | None = None,
    layer_alias: str = DEFAULT_CHANNEL_LAYER,
    worker: WorkerMode | None = None,
    step_delay: float = DEFAULT_STEP_DELAY,
) -> FastAPI:
    """The demo app; `worker` defaults to in-process for in-memory, external for Redis."""
    from_env = redis_url is None and redis_configured()
    # Built now, so a bad --redis-url fails before the server starts. Under the Helm chart the
    # layer comes from FAST_CHANNELS_* variables and every pod runs its own job worker.
    layer = layer_from_env(group_history=ROOM_HISTORY) if from_env else make_layer(redis_url)
    mode: WorkerMode = worker or ("external" if redis_url else "in-process")
    if mode == "external" and redis_url is None:
        raise ValueError("An external worker needs a Redis layer: pass redis_url")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        register_channel_layer(layer_alias, layer)
        task = None
        if mode == "in-process":
            task = asyncio.create_task(run_worker(layer, step_delay=step_delay))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            unregister_channel_layer(layer_alias)
            await layer.close()

    app = FastAPI(title="fast_channels demo", lifespan=service.lifespan(lifespan))
    info = {
        "layer": "redis" if redis_url or from_env else "in-memory",
        "worker": mode,
        "jobs_channel": JOBS_CHANNEL,
    }
    _add_pages(app)
    _add_api(app, layer, info)
    # Starlette 1.0 dropped app.add_websocket_route; a WebSocketRoute takes any ASGI app.
    consumer = ChatConsumer.as_asgi(channel_layer_alias=layer_alias, jobs_enabled=mode != "none")
    app.router.routes.append(WebSocketRoute("/ws/chat/{room}", consumer))
    events = RoomEventsConsumer.as_asgi(channel_layer_alias=layer_alias)
    app.router.routes.append(Route("/api/rooms/{room}/events", events, methods=["GET"]))
    service.add_observability_endpoints(app)  # /metrics, /healthz, /readyz
    return app


def _add_pages(app: FastAPI) -> None:
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def client() -> FileResponse:
        return FileResponse(BROWSER_CLIENT, media_type="text/javascript")

    # The page reads the room from its own path, so /rooms/<room> links straight into a room.
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/rooms/{room}", page, methods=["GET"], include_in_schema=False)
    # Before the mount: routes are matched in order, and the mount would answer 404 for it.
    app.add_api_route("/static/fast-channels.js", client, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@contextlib.contextmanager
def _unavailable_as_503() -> Iterator[None]:
    """A layer that cannot reach its backend answers 503 with a JSON error, not a traceback
    per request (a 2 s Redis outage under load was ~6,000 log lines, 134 per failed POST);
    the layer itself logs the cause, rate-limited, and counts every failed call."""
    try:
        yield
    except LAYER_UNAVAILABLE as error:
        detail = f"The channel layer is unavailable ({type(error).__name__}); try again shortly"
        raise HTTPException(503, detail, headers={"Retry-After": "1"}) from None


def _add_api(app: FastAPI, layer: BaseChannelLayer, info: dict[str, str]) -> None:
    @app.get("/api/info")
    async def get_info() -> dict[str, str]:
        return info

    @app.post("/api/rooms/{room}/broadcast", status_code=202)
    async def broadcast(room: str, body: BroadcastIn) -> dict[str, Any]:
        """Send a chat message from the server to every socket in the room."""
        if not is_valid_room(room):
            raise HTTPException(400, "Room names are 1-64 ASCII letters, digits, '-', '_', '.'")
        with _unavailable_as_503():
            await layer.group_send(room_group(room), chat_event(room, "http-api", body.message))
        return {"room": room, "queued": True}

    @app.post("/api/jobs", status_code=202)
    async def start_job(body: JobIn) -> dict[str, Any]:
        """Queue a job whose progress the worker streams to the socket named by `channel`."""
        if info["worker"] == "none":
            raise HTTPException(503, "This demo runs without a worker (--no-worker)")
        try:
            layer.require_valid_channel_name(body.channel)
        except TypeError as error:
            raise HTTPException(400, str(error)) from None
        request = job_request(body.channel, body.steps)
        try:
            with _unavailable_as_503():
                await layer.send(JOBS_CHANNEL, request)
        except ChannelFull:
            raise HTTPException(503, "The job queue is full; try again later") from None
        return {"job": request["job"], "steps": body.steps}
