# mspwatch container image: the detector (`mspwatch`) and the load generator
# (`mspwatch-loadtest`), built from this repository in a Rust build stage.
#
#   docker build -t mspwatch:local .
#   docker run --rm mspwatch:local --help

FROM rust:1-bookworm AS build
# The bundled librdkafka is compiled from source: it needs a C toolchain, make, perl and zlib,
# all present in this image.
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mspwatch -p mspwatch-loadtest

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/mspwatch --create-home mspwatch
COPY --from=build /src/target/release/mspwatch /usr/local/bin/mspwatch
COPY --from=build /src/target/release/mspwatch-loadtest /usr/local/bin/mspwatch-loadtest
COPY rules /usr/share/mspwatch/rules
COPY examples/mspwatch.toml /etc/mspwatch/mspwatch.toml
USER mspwatch
WORKDIR /var/lib/mspwatch
# Partition checkpoints (docs/checkpoints.md); a volume mounted here keeps this ownership.
RUN mkdir -p /var/lib/mspwatch/checkpoints
# gRPC alerts and admin API, then Prometheus metrics.
EXPOSE 50051 9464
ENTRYPOINT ["mspwatch"]
CMD ["run", "--config", "/etc/mspwatch/mspwatch.toml"]
