# Herald: one image with the three binaries (herald-api, herald-worker,
# heraldctl). The default command runs the API; run a worker or a migration
# by naming the command:
#   docker run IMAGE herald-worker --channel email
#   docker run IMAGE heraldctl migrate --schema-dir /usr/share/herald/schema
# deploy/check.sh lints this file; it is never built in CI (see deploy/README.md).

# ---- build ------------------------------------------------------------------
FROM debian:12 AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libevent-dev libpq-dev libhiredis-dev libjson-c-dev libcurl4-openssl-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY CMakeLists.txt ./
COPY api/ api/
COPY common/ common/
COPY ctl/ ctl/
COPY worker/ worker/
COPY schema/ schema/

RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF \
    && cmake --build build -j "$(nproc)" \
    && install -D -m 0755 -t /out/usr/local/bin \
        build/herald-api build/herald-worker build/heraldctl \
    && install -d /out/usr/share/herald/schema \
    && install -m 0644 -t /out/usr/share/herald/schema schema/*.sql

# ---- runtime ----------------------------------------------------------------
FROM debian:12-slim

# Runtime libraries only; curl is for HEALTHCHECK.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-openssl-2.1-7 libpq5 libhiredis0.14 libjson-c5 \
        libcurl4 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 herald \
    && useradd --system --uid 10001 --gid herald --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin herald

COPY --from=build /out/ /

# The API listens on every interface inside the container (API.md's default,
# 127.0.0.1, would be unreachable from outside it).
ENV HERALD_LISTEN=0.0.0.0:8080

USER 10001:10001
EXPOSE 8080

# /healthz is served on HERALD_METRICS_LISTEN when it is set (workers serve it
# only there), otherwise on HERALD_LISTEN (the API). It answers as soon as the
# process runs, so no --start-period (which dockerfilelint 1.8 mis-parses).
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
    CMD addr="${HERALD_METRICS_LISTEN:-$HERALD_LISTEN}"; \
        curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:${addr##*:}/healthz" || exit 1

CMD ["herald-api"]
