"""Admin surface: health, Prometheus metrics and the read-only SQL endpoint (127.0.0.1:13133)."""
