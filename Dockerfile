# otelproc: OTLP in on 4317 (gRPC) and 4318 (HTTP), admin on 13133.
#
# The build stage compiles the Rust core (core/) into a wheel with maturin; the runtime stage
# installs that wheel and has no Rust toolchain. Both stages are Debian trixie, so the wheel
# links against the glibc it runs on.
FROM rust:1.95-slim-trixie AS build
# maturin runs from its own venv; the core is abi3 (Python >= 3.11), so the wheel it builds with
# Debian's Python is the one the runtime's Python 3.11 installs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/maturin \
 && /opt/maturin/bin/pip install --no-cache-dir maturin==1.16.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY otelproc ./otelproc
# Cache mounts keep downloaded crates and compiled dependencies from one build to the next.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/core/target \
    /opt/maturin/bin/maturin build --release --locked --compatibility linux --out /dist

FROM python:3.11-slim-trixie
# The wheel from the build stage, then the smoke test of what was installed: the compiled core
# on a request with an error span, the packaged defaults, `otelproc check-config`.
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    --mount=type=bind,source=.ci/wheel_smoke.py,target=/tmp/wheel_smoke.py \
    pip install --no-cache-dir --root-user-action=ignore --only-binary :all: /dist/otelproc-*.whl \
 && python /tmp/wheel_smoke.py --installed
RUN useradd --system --uid 10001 --home-dir /var/lib/otelproc --create-home otelproc
WORKDIR /var/lib/otelproc
USER otelproc
# The admin server listens on loopback by default; in a container it must be
# reachable for probes, so the image's config moves it to 0.0.0.0.
COPY --chown=otelproc config/docker.yaml /etc/otelproc/otelproc.yaml
VOLUME ["/var/lib/otelproc/data"]
EXPOSE 4317 4318 13133
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:13133/health/ready', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["otelproc"]
CMD ["serve", "--config", "/etc/otelproc/otelproc.yaml", "--log-format", "json"]
