# hotdesk in a container (README "Packaging"):
#   docker build -t hotdesk --build-arg HOTDESK_GIT_REVISION=$(git describe --always --dirty) .
#   docker run -p 8080:8080 -v hotdesk-data:/var/lib/hotdesk hotdesk
# The database and the secret key live in the volume /var/lib/hotdesk; settings are HOTDESK_*
# variables (README "Configuration"), e.g. -e HOTDESK_DATABASE=postgres://hotdesk@db/hotdesk.

# Build: the release binary, from the locked dependencies.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
ARG HOTDESK_GIT_REVISION=unknown
ENV HOTDESK_GIT_REVISION=${HOTDESK_GIT_REVISION}
RUN cargo build --release --locked -p hotdesk \
 && strip target/release/hotdesk

# Run: a small Debian with the binary, as a user without privileges.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/hotdesk --create-home --shell /usr/sbin/nologin hotdesk \
 && chmod 0700 /var/lib/hotdesk
COPY --from=build /src/target/release/hotdesk /usr/bin/hotdesk
USER hotdesk
WORKDIR /var/lib/hotdesk
ENV HOTDESK_LISTEN=0.0.0.0:8080 \
    HOTDESK_DATABASE=sqlite:///var/lib/hotdesk/hotdesk.db \
    HOTDESK_SECRET_KEY_FILE=/var/lib/hotdesk/secret.key \
    HOTDESK_LOG_FORMAT=json \
    HOTDESK_HEALTH_URL=http://127.0.0.1:8080
VOLUME ["/var/lib/hotdesk"]
EXPOSE 8080
# The image has no curl: the binary asks itself, at HOTDESK_HEALTH_URL (change it with the
# port of HOTDESK_LISTEN). A bind mount for /var/lib/hotdesk must be writable by uid 10001.
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 \
  CMD ["/usr/bin/hotdesk", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/hotdesk"]
CMD ["serve"]
