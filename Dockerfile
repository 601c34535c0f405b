# syntax=docker/dockerfile:1
#
# The mithril-operator image: the binary only, on distroless (glibc, CA certificates, no shell),
# running as an unprivileged user.
#
#   docker build -t REGISTRY/mithril-operator:TAG .
#
# The test suite does not build this image (that needs a container engine); it is kept correct by
# construction: the builder compiles the operator's binary without the development tools (no
# simulator, no emulator), and the runtime stage holds nothing but that binary.

FROM rust:1.89-bookworm AS builder
# aws-lc-sys (the TLS crypto provider) and jemalloc (the allocator) build their C sources with the
# image's gcc and make: aws-lc-sys needs CMake only for FIPS builds, and CMAKE_BUILDER=0 makes a
# build that would want it fail at once instead.
ENV AWS_LC_SYS_CMAKE_BUILDER=0
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
# Every workspace member's manifest must be present; only crates/mithril-api is compiled.
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mithril-operator --no-default-features --bin mithril-operator \
    && install -D target/release/mithril-operator /out/mithril-operator

# distroless/cc: glibc and libgcc for the Rust binary, CA certificates for https://api.mithril.ai.
FROM gcr.io/distroless/cc-debian12:nonroot
# Set at build time: docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mithril-operator" \
      org.opencontainers.image.description="Kubernetes operator for Mithril GPU spot bids, reserved-instance schedules and spot capacity pools" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/mithril-operator /usr/local/bin/mithril-operator
# 65532 is distroless's "nonroot"; numeric so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mithril-operator"]
CMD ["run"]
