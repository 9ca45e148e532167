"""Settings precedence: defaults < TOML file < IDNODE_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver.settings import Address, SettingsError, load_settings, parse_address


def test_defaults() -> None:
    settings = load_settings({}, {})
    assert settings.listen.handle == Address("0.0.0.0", 2641)
    assert settings.listen.http.port == 8000
    assert settings.storage.redis_url is None
    assert settings.limits.identifier.max_length == 255
    assert settings.token_ttl_s == 86_400


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        'workers = 3\nredis_url = "redis://file:1"\nhandle_listen = "127.0.0.1:1111"\n'
        "[cache]\nmax_entries = 7\n"
    )
    env = {"IDNODE_WORKERS": "5", "IDNODE_HANDLE_LISTEN": "127.0.0.1:2222"}
    flags = {"workers": "9", "http_listen": None}
    settings = load_settings(flags, env, config)
    assert settings.workers == 9  # flag beats environment and file
    assert settings.listen.handle.port == 2222  # environment beats file
    assert settings.storage.redis_url == "redis://file:1"  # file beats default
    assert settings.cache.max_entries == 7  # [cache] max_entries = cache_max_entries
    assert settings.listen.http.port == 8000  # a flag given as None does not override


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('log_format = "json"\n')
    assert load_settings({}, {"IDNODE_CONFIG": str(config)}).log.format == "json"


@pytest.mark.parametrize(
    ("values", "fragment"),
    [({"workers": "many"}, "workers"), ({"log_format": "xml"}, "log_format"), ({"http_listen": "x"}, "HOST")],
)
def test_bad_values_name_the_setting(values: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        load_settings(values, {})


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text("wrokers = 2\n")
    with pytest.raises(SettingsError, match="wrokers"):
        load_settings({}, {}, config)


def test_parse_address_forms() -> None:
    assert parse_address("[::1]:0") == Address("::1", 0)
    assert parse_address(":2641") == Address("0.0.0.0", 2641)
    assert str(Address("::1", 5)) == "[::1]:5"


def test_cache_udp_and_storage_tuning_have_names(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text("[storage]\nmax_connections = 8\nretries = 1\n[cache]\nmax_hot_responses = 10\n")
    env = {"IDNODE_UDP_MAX_PARTIAL": "5", "IDNODE_STORAGE_SOCKET_TIMEOUT_S": "0.5",
           "IDNODE_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "3"}
    flags = {"storage_retry_backoff_s": "0.2", "storage_record_buckets": "64", "udp_max_in_flight": "7"}
    settings = load_settings(flags, env, config)
    assert (settings.storage.max_connections, settings.storage.retries) == (8, 1)
    assert settings.cache.max_hot_responses == 10
    assert (settings.limits.udp_max_partial, settings.storage.socket_timeout_s) == (5, 0.5)
    assert (settings.storage.retry_backoff_s, settings.storage.record_buckets) == (0.2, 64)
    assert settings.limits.udp_max_in_flight == 7
    assert settings.limits.http_max_connections_per_address == 3
