# zerobeta in a container (deploy/README.md, "Docker"). Build from the repository root:
#
#   docker build -t zerobeta:0.1.0 .
#   docker compose up -d                     # compose.yaml: env file, volume, restart, health
#
# Stage 1 builds the project's wheel; stage 2 installs the runtime dependencies from the
# hash-pinned deploy/requirements.lock (pip refuses any file whose sha256 differs), then the
# wheel without dependencies, and runs as a non-root user. The journal lives on the volume
# /var/lib/zerobeta (the working directory); secrets come from the environment (an env file)
# or a mounted secrets directory, never from the image.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE agent.toml ./
COPY agent ./agent
COPY strategies ./strategies
COPY venues ./venues
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/zerobeta/bin:$PATH
COPY deploy/requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/zerobeta \
    && /opt/zerobeta/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=build /dist/ /tmp/dist/
RUN /opt/zerobeta/bin/pip install --no-deps /tmp/dist/zerobeta-*.whl \
    && rm -r /tmp/dist \
    && /opt/zerobeta/bin/pip check \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/zerobeta \
       --shell /usr/sbin/nologin zerobeta \
    && install -d -m 0750 -o zerobeta -g zerobeta /var/lib/zerobeta \
    && install -d -m 0755 /etc/zerobeta \
    && zerobeta init /etc/zerobeta \
    && chmod 0644 /etc/zerobeta/agent.toml

# The configuration: the documented default (a replay of the bundled data); override keys with
# ZEROBETA_* variables in the env file (ZEROBETA_MARKET_DATA__SOURCE=live: paper trading on
# live data), or mount your own file read-only over /etc/zerobeta/agent.toml.
USER zerobeta:zerobeta
WORKDIR /var/lib/zerobeta
VOLUME ["/var/lib/zerobeta"]

# /healthz of the control endpoint ([control] http: on for source = "live", off for replays),
# inside the container on loopback; 200 healthy, 503 (an HTTPError: exit 1) or a timeout not.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=5)"]

# SIGTERM (docker stop) is a graceful stop: give it time (docker stop -t 60 / stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["zerobeta"]
CMD ["run", "--config", "/etc/zerobeta/agent.toml"]
