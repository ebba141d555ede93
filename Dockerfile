# syntax=docker/dockerfile:1
# The fast_channels server image: uvicorn serving the demo app, or your app via APP_MODULE.
#   docker build -t fast-channels .
#   docker build --build-arg EXTRAS=demo,crypto -t fast-channels .   # with Fernet encryption
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only what the build backend needs: the metadata (README is the long description) and the package.
COPY pyproject.toml README.md ./
COPY fast_channels ./fast_channels
# The demo extra (FastAPI) serves the default app; add "crypto" for symmetric_encryption_keys.
ARG EXTRAS=demo
# uvicorn >= 0.35: the entrypoint serves with its websockets-sansio implementation.
RUN pip install "/src[${EXTRAS}]" "uvicorn[standard]>=0.35"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000
# A fixed numeric uid/gid so Kubernetes can check runAsNonRoot without a passwd lookup.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0755 ops/docker/entrypoint.sh /usr/local/bin/docker-entrypoint
# Your own code goes here (uvicorn imports APP_MODULE relative to the working directory).
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
ENTRYPOINT ["docker-entrypoint"]
CMD []
