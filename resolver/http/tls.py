"""HTTPS for the HTTP API when a certificate and key are configured (http-apis.md §1.1: administrative
operations are meant to run over HTTPS)."""

from __future__ import annotations

import ssl

from resolver.settings import Settings, SettingsError


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """None for plain HTTP; a TLS 1.2+ server context from ``tls_cert``/``tls_key`` otherwise."""
    cert, key = settings.tls.cert, settings.tls.key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SettingsError("tls_cert and tls_key must be given together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"cannot load tls_cert {cert} / tls_key {key}: {exc}") from None
    return context
