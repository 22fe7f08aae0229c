# dialtone: a static-enough Rust binary on a distroless, non-root base.
# Build: docker build -t dialtone:dev .

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild the AWS SDKs.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/sweep.rs \
    && cargo build --release --locked --bin dialtone \
    && rm -rf src benches
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin dialtone \
    && cp target/release/dialtone /dialtone

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="dialtone" \
      org.opencontainers.image.description="Kubernetes operator keeping an Amazon Connect contact center's CloudWatch alarms, maintenance windows and region failover as declared in Git" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/dialtone-io/dialtone"
COPY --from=build /dialtone /usr/local/bin/dialtone
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dialtone"]
CMD ["run"]
