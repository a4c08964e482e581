# otelproc: OTLP in on 4317 (gRPC) and 4318 (HTTP), admin on 13133.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY otelproc ./otelproc
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/otelproc --create-home otelproc
COPY --from=build /install /usr/local
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
