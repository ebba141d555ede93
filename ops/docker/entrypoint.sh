#!/bin/sh
# The image's entrypoint: serve an ASGI app with uvicorn, or run the command given.
#   (no arguments)       uvicorn on $APP_MODULE, or on the fast_channels demo app when it is unset
#   --option ...         the same, with extra uvicorn options
#   module:attr [opts]   uvicorn on that app (e.g. myapp.main:app), with extra uvicorn options
#   anything else        run as is (e.g. `fast-channels worker --redis-url ...`, `sh`)
# Connections that do not complete their first request (a WebSocket handshake) within
# FAST_CHANNELS_HANDSHAKE_TIMEOUT seconds (default 10) are closed: uvicorn alone never does.
# uvicorn also reads WEB_CONCURRENCY (worker processes) and UVICORN_* variables
# (UVICORN_FACTORY=true when APP_MODULE names a factory, UVICORN_LOG_LEVEL=debug, ...).
# WebSockets are served by the kit's protocol (uvicorn's websockets-sansio writing a frame built
# once per text to every socket) without per-message deflate (the cheapest per frame: README
# "Serving: uvicorn and the garbage collector");
# UVICORN_WS and UVICORN_WS_PER_MESSAGE_DEFLATE=true choose otherwise, as do --ws options given.
set -eu

demo_app="fast_channels.demo.app:create_app"

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    # prometheus_client's per-process files must not outlive their processes: a restarted
    # container keeps its emptyDir, so start every run from an empty directory.
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

case "${1:-}" in
    "" | -*) app="${APP_MODULE:-$demo_app}" ;;
    *:*)
        app="$1"
        shift
        ;;
    *) exec "$@" ;;
esac

if [ "$app" = "$demo_app" ]; then
    set -- --factory "$@"
fi
exec uvicorn "$app" --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
    --http fast_channels.handshake:HTTPProtocol \
    --ws "${UVICORN_WS:-fast_channels.wsprotocol:SharedFrameProtocol}" \
    --ws-per-message-deflate "${UVICORN_WS_PER_MESSAGE_DEFLATE:-false}" "$@"
