# syntax=docker/dockerfile:1
#
# The switchyard binary in a small Debian image.
#
#   docker build -t switchyard .
#   docker run -p 4000:4000 -v $PWD/deploy/switchyard.toml:/etc/switchyard/switchyard.toml:ro \
#       -e SWITCHYARD_MASTER_KEY -e OPENAI_API_KEY -e ANTHROPIC_API_KEY switchyard
#
# The builder and the runtime image are both Debian bookworm, so the binary links against the
# same glibc it runs with. TLS is rustls with compiled-in roots: no OpenSSL at run time.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src

# Dependencies first, in a layer of their own: the workspace's manifests and lock file with
# empty sources. This layer is rebuilt only when a Cargo.toml or Cargo.lock changes.
COPY Cargo.toml Cargo.lock ./
COPY crates/dialect/Cargo.toml crates/dialect/Cargo.toml
COPY crates/gateway/Cargo.toml crates/gateway/Cargo.toml
COPY crates/testkit/Cargo.toml crates/testkit/Cargo.toml
RUN mkdir -p crates/dialect/src crates/gateway/src crates/testkit/src \
    && touch crates/dialect/src/lib.rs crates/gateway/src/lib.rs crates/testkit/src/lib.rs \
    && echo 'fn main() {}' > crates/gateway/src/main.rs \
    && cargo fetch --locked \
    && cargo build --release --locked -p gateway --bin switchyard \
    && rm -rf crates/dialect/src crates/gateway/src crates/testkit/src \
        target/release/.fingerprint/dialect-* target/release/.fingerprint/gateway-* \
        target/release/deps/libdialect-* target/release/deps/libgateway-* \
        target/release/deps/switchyard-* target/release/switchyard

# Then the workspace's own code. COPY keeps the files' modification times, which may be older
# than the stub build above, so the three crates' fingerprints were removed above.
COPY crates crates
RUN cargo build --release --locked -p gateway --bin switchyard \
    && install -D -m 0755 target/release/switchyard /out/switchyard

FROM debian:bookworm-slim AS runtime
# ca-certificates is left unpinned on purpose: it follows the base image's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 switchyard \
    && useradd --system --uid 10001 --gid switchyard --home-dir /var/lib/switchyard \
        --shell /usr/sbin/nologin switchyard \
    && install -d -o switchyard -g switchyard -m 0750 /var/lib/switchyard \
    && install -d -m 0755 /etc/switchyard
COPY --from=builder /out/switchyard /usr/local/bin/switchyard
COPY deploy/healthcheck.sh /usr/local/bin/switchyard-healthcheck

# The working directory holds what the gateway writes next to itself: the default SQLite
# ledger (switchyard.db) and, with PostgreSQL, the spill file rows go to while the database
# is unreachable. Mount a volume here to keep them across containers.
WORKDIR /var/lib/switchyard
USER 10001:10001

EXPOSE 4000
# bash's /dev/tcp asks GET /health on the main port; 503 (draining) or no answer is unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/switchyard-healthcheck"]

ENTRYPOINT ["switchyard"]
# The config file must say listen = "0.0.0.0:4000" (as deploy/switchyard.toml does).
CMD ["serve", "--config", "/etc/switchyard/switchyard.toml"]
