"""receivers.otlp config: the Collector's shape, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from otelproc.receivers.auth import Authenticator
from otelproc.receivers.config import AuthConfig, GrpcConfig, HttpConfig, OTLPReceiverConfig

MIB = 1024 * 1024


def load(text: str) -> OTLPReceiverConfig:
    return OTLPReceiverConfig.model_validate(yaml.safe_load(text)["receivers"]["otlp"] or {})


TESTDATA = Path(__file__).parent / "testdata" / "config.yaml"


def test_testdata_examples():
    receivers = yaml.safe_load(TESTDATA.read_text())["receivers"]
    configs = {name: OTLPReceiverConfig.model_validate(doc or {}) for name, doc in receivers.items()}
    assert configs["otlp/empty"] == OTLPReceiverConfig()
    assert configs["otlp"] == OTLPReceiverConfig()
    assert configs["otlp/grpc_only"].protocols.grpc == GrpcConfig() and configs["otlp/grpc_only"].protocols.http is None
    full = configs["otlp/full"]
    assert full.protocols.grpc.max_concurrent_streams == 128
    assert full.protocols.http.cors.max_age == 600
    assert full.auth.header == "authorization"
    assert configs["otlp/api_key"].auth.header == "x-api-key"
    assert configs["otlp/api_key"].protocols.grpc is None


def test_architecture_example():
    cfg = load(
        """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 0.0.0.0:4317}
      http: {endpoint: 0.0.0.0:4318}
"""
    )
    assert cfg.protocols.grpc == GrpcConfig()
    assert cfg.protocols.http == HttpConfig()
    assert cfg.auth is None


def test_empty_otlp_means_both_protocols_with_defaults():
    cfg = load("receivers:\n  otlp:\n")
    assert cfg.protocols.grpc.endpoint == "0.0.0.0:4317"
    assert cfg.protocols.grpc.max_recv_msg_size == 20 * MIB
    assert cfg.protocols.http.endpoint == "0.0.0.0:4318"
    assert cfg.protocols.http.max_request_body_size == 20 * MIB


def test_empty_protocol_value_means_defaults_and_omitted_means_disabled():
    cfg = load("receivers:\n  otlp:\n    protocols:\n      grpc:\n")
    assert cfg.protocols.grpc == GrpcConfig()
    assert cfg.protocols.http is None


def test_full_example():
    cfg = load(
        """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
        max_recv_msg_size: 4MiB
        max_concurrent_streams: 64
      http:
        endpoint: "[::1]:14318"
        max_request_body_size: 512KiB
        cors:
          allowed_origins: ["https://app.example.com", "https://*.example.org"]
          allowed_headers: [x-custom]
          max_age: 7200
    auth:
      api_key: {header: X-API-Key, value: abc}
"""
    )
    assert cfg.protocols.grpc.max_recv_msg_size == 4 * MIB
    assert cfg.protocols.http.max_request_body_size == 512 * 1024
    cors = cfg.protocols.http.cors
    assert cors.exact_origins() == ["https://app.example.com"]
    assert cors.origin_regex() == r"(?:https://[^/]+\.example\.org)"
    assert cfg.auth.header == "x-api-key"
    assert "abc" not in repr(cfg)  # secrets stay out of logs and error messages


@pytest.mark.parametrize(
    ("doc", "location", "words"),
    [
        ({"protocols": {}}, ("protocols",), "at least one protocol"),
        ({"protocols": {"grpc": {"endpoint": "4317"}}}, ("protocols", "grpc", "endpoint"), "host:port"),
        ({"protocols": {"grpc": {"max_recv_msg_size": "lots"}}}, ("protocols", "grpc", "max_recv_msg_size"), "size"),
        ({"protocols": {"http": {"max_request_body_size": 0}}}, ("protocols", "http", "max_request_body_size"), "greater"),
        ({"protocols": {"http": {"endpont": "x:1"}}}, ("protocols", "http", "endpont"), "Extra inputs"),
        ({"protocols": {"udp": {}}}, ("protocols", "udp"), "Extra inputs"),
        ({"protocols": {"grpc": None}, "auth": {}}, ("auth",), "exactly one"),
        ({"protocols": {"grpc": None}, "auth": {"bearer_token": "a", "api_key": {"value": "b"}}}, ("auth",), "exactly one"),
        ({"protocols": {"grpc": None}, "auth": {"bearer_token": ""}}, ("auth",), "must not be empty"),
        ({"protocols": {"grpc": None}, "auth": {"api_key": {"header": "bad header", "value": "b"}}},
         ("auth", "api_key", "header"), "header name"),
        ({"protocols": {"http": {"traces_url_path": "v1/traces"}}}, ("protocols", "http", "traces_url_path"), "start with /"),
    ],
)
def test_errors_name_the_key(doc, location, words):
    with pytest.raises(ValidationError) as caught:
        OTLPReceiverConfig.model_validate(doc)
    errors = caught.value.errors()
    assert any(tuple(e["loc"]) == location and words in e["msg"] for e in errors), errors


@pytest.mark.parametrize(
    ("auth", "value", "ok"),
    [
        ({"bearer_token": "t0k"}, "Bearer t0k", True),
        ({"bearer_token": "t0k"}, "bearer   t0k ", True),
        ({"bearer_token": "t0k"}, "Bearer t0k2", False),
        ({"bearer_token": "t0k"}, "t0k", False),
        ({"bearer_token": "t0k"}, None, False),
        ({"api_key": {"value": "k"}}, "k", True),
        ({"api_key": {"value": "k"}}, "Bearer k", False),
        ({"api_key": {"value": "ключ"}}, "ключ", True),
    ],
)
def test_authenticator(auth, value, ok):
    assert Authenticator(AuthConfig.model_validate(auth)).check(value) is ok
