"""Kubernetes CRI (runtime.v1) for the caller tests: `api.proto`, the subset of
the API the tests use, and `client.CriClient`, a grpcio client for it."""
