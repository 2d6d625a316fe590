# georisk gRPC server image.
#
#   docker build -t georisk:dev .
#   podman build -t georisk:dev .
#
# Two stages on the same base: "builder" builds the project wheel (the committed stubs in
# georisk/v1 and the embedded dataset included as package data) and the runtime dependency wheels,
# and installs those wheels (and nothing else) into a fresh venv without pip; the runtime stage
# copies only that venv. No compilers, no pip caches, no dev tools, no wheel files, no source
# tree end up in the final image.
#
# Build-time CA bundle (networks with a TLS-intercepting proxy), build only, never in the image:
#   podman build -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.pem:ro \
#                --build-arg PIP_CERT=/run/host-ca.pem -t georisk:dev .
# (Docker: pass the bundle as a BuildKit secret or build through a proxy that pip trusts.)
# PIP_CERT is a build argument of the builder stage only; pip reads it from the environment.
#
# Run (see deploy/README.md): plaintext on 0.0.0.0 is allowed here only for local runs or behind a
# TLS-terminating mesh; real deployments set GEORISK_TLS_CERT / GEORISK_TLS_KEY (and
# GEORISK_TLS_CLIENT_CA for mTLS) and GEORISK_AUTH_TOKENS_FILE, and GEORISK_ALLOW_INSECURE_REMOTE=false.

FROM python:3.11-slim AS builder

# Path of a CA bundle for pip during the build (optional; see above).
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# georisk/ links scoring/, server/ and data/ into the package (ARCHITECTURE.md): all four go in.
COPY pyproject.toml README.md ./
COPY georisk ./georisk
COPY scoring ./scoring
COPY server ./server
COPY data ./data

# The project wheel and its runtime dependency wheels.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime venv from the wheels only (no index, no pip inside the venv); fails the build when the
# generated stubs or the embedded dataset did not make it into the installed package.
RUN python -m venv --without-pip /opt/georisk/venv \
    && pip --python /opt/georisk/venv/bin/python install --no-cache-dir --no-index \
        --find-links /wheels /wheels/georisk-*.whl \
    && /opt/georisk/venv/bin/python -c "from georisk.v1 import scoring_pb2_grpc, graph_pb2_grpc" \
    && /opt/georisk/venv/bin/georisk validate


FROM python:3.11-slim

LABEL org.opencontainers.image.title="georisk" \
      org.opencontainers.image.description="Geopolitical risk scoring of battery/EV deals (gRPC)" \
      org.opencontainers.image.licenses="Apache-2.0"

# Graphviz's `dot` draws the arrangement charts of RenderService (docs/explain.md); without it the
# service still answers dot/graphml and refuses svg/png/html with FAILED_PRECONDITION. Unpinned on
# purpose: the distribution's security updates of the base release are wanted, and the image is
# rebuilt from a pinned base tag.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

# Fixed, unprivileged uid/gid (Kubernetes runAsUser: 10001); no home, no login shell.
RUN groupadd --system --gid 10001 georisk \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin georisk

# The venv holds the embedded dataset as package data; mount your own read-only and point
# GEORISK_DATA at it to serve another one.
COPY --from=builder /opt/georisk/venv /opt/georisk/venv

# Writes only to /tmp (if at all): works with a read-only root filesystem.
ENV PATH=/opt/georisk/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GEORISK_ADDRESS=0.0.0.0:50051 \
    GEORISK_PROFILE=production \
    GEORISK_ALLOW_INSECURE_REMOTE=true \
    GEORISK_GRACE_SECONDS=10 \
    GEORISK_HEALTH_ADDRESS=127.0.0.1:50051

USER 10001:10001
WORKDIR /tmp

# 50051 gRPC, 9464 Prometheus metrics (only when GEORISK_METRICS_ADDRESS is set, e.g. 0.0.0.0:9464)
EXPOSE 50051 9464

# `georisk health` probes GEORISK_HEALTH_ADDRESS (change it with GEORISK_ADDRESS's port); with TLS
# set GEORISK_HEALTH_CA (and GEORISK_HEALTH_CERT / GEORISK_HEALTH_KEY for mTLS). The server
# certificate must then name localhost / 127.0.0.1. Health needs no auth token.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["georisk", "health"]

# SIGTERM: health NOT_SERVING, drain for GEORISK_GRACE_SECONDS, exit 0. SIGHUP: reload the dataset.
STOPSIGNAL SIGTERM
ENTRYPOINT ["georisk", "serve"]
