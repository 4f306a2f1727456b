# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian image as a non-root user.
#
#   docker build -t action-tracker .
#   docker run -p 8080:8080 -v action-tracker-data:/var/lib/action-tracker/data action-tracker
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://user:pass@db/tracker action-tracker
#
# Settings are environment variables (see README): DATABASE_URL picks SQLite (a file path, the default
# below, kept on the data volume) or PostgreSQL (postgres://…); LISTEN_ADDR is where it listens inside
# the container (0.0.0.0:8080 here; the HEALTHCHECK probes port 8080, so change both together).
# Secrets: with SQLite and no JWT_SECRET/LINK_SECRET they are generated onto the data volume; on
# PostgreSQL set JWT_SECRET (or JWT_PUBLIC_KEY) and LINK_SECRET, the same on all replicas. Mail goes to
# SMTP_URL, or into the data volume's outbox/ folder when it is unset.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Build the dependencies first, in their own layer, so code changes do not rebuild them.
# .cargo/config.toml holds how the bundled SQLite is compiled (see the comment there).
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY build.rs askama.toml ./
COPY src src
COPY migrations migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/action-tracker --create-home action-tracker \
    && install -d -o action-tracker -g action-tracker /var/lib/action-tracker/data
COPY --from=build /src/target/release/action-tracker /usr/local/bin/action-tracker

USER action-tracker
WORKDIR /var/lib/action-tracker
ENV LISTEN_ADDR=0.0.0.0:8080 \
    DATABASE_URL=/var/lib/action-tracker/data/action-tracker.db \
    DATA_DIR=/var/lib/action-tracker/data \
    LOG_FORMAT=json \
    RUST_LOG=info
VOLUME ["/var/lib/action-tracker/data"]
EXPOSE 8080
# SIGTERM stops it gracefully: requests in flight get up to REQUEST_TIMEOUT (30s) to finish, so give
# `docker stop -t 35` (or terminationGracePeriodSeconds) at least that long. Behind a TLS proxy, set
# PUBLIC_BASE_URL=https://…; without it the service warns that links would travel in clear text.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["action-tracker"]
CMD ["serve"]
