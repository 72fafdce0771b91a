# The server as a container image: a static binary (no cgo; SQLite is modernc's pure-Go port) on
# distroless static, running as the image's non-root user. See "Install" in the README.
#
#   docker build -t inferia-orgserver .
#   docker run -p 8000:8000 -v inferia-data:/data inferia-orgserver
#
# The builder's Go is the version go.mod names; both stages are Debian 12 (bookworm).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static, reproducible paths, no symbol tables; the same command the README's binary install uses.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/server ./server
# The data directory, owned by distroless' nonroot user (65532), which has no shell to make it.
RUN mkdir -p /out/data && chown 65532:65532 /out/data

# distroless static: CA certificates (for SMTP over TLS and PostgreSQL with sslmode=verify-full),
# time zone data and /etc/passwd with nonroot; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/server /server
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
# SQLite by default, in the volume: the database and its -wal and -shm files live in /data, which
# the nonroot user owns. Set DATABASE_URL=postgres://... to use PostgreSQL (see compose.yaml).
ENV DATABASE_URL=sqlite:///data/inferia.db \
    LISTEN_ADDR=:8000 \
    LOG_FORMAT=json \
    LOG_LEVEL=info
VOLUME ["/data"]
EXPOSE 8000
# `server healthcheck` exits 0 when GET /readyz on LISTEN_ADDR answers 200 (the database answers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/server", "healthcheck"]
ENTRYPOINT ["/server"]
