import pytest

from kingdom.entrypoints.settings import Settings, SettingsError


def test_defaults_bind_loopback_on_8000() -> None:
    settings = Settings.from_environ({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_host_and_port_come_from_kingdom_variables() -> None:
    settings = Settings.from_environ({"KINGDOM_HOST": "0.0.0.0", "KINGDOM_PORT": "9123"})
    assert (settings.host, settings.port) == ("0.0.0.0", 9123)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KINGDOM_PORT", "eighty"),
        ("KINGDOM_PORT", "70000"),
        ("KINGDOM_PORT", "-1"),
        ("KINGDOM_HOST", "not a host"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({name: value})
    assert raised.value.name == name
    assert name in str(raised.value)


def test_the_embedded_default_is_a_sqlite_file_in_the_data_dir() -> None:
    settings = Settings.from_environ({"KINGDOM_DATA_DIR": "/srv/kingdom"})
    assert settings.database_url == "sqlite+aiosqlite:////srv/kingdom/kingdom.db"
    assert settings.embedded


def test_a_postgres_url_switches_off_the_embedded_default() -> None:
    url = "postgresql+asyncpg://kingdom@db.internal:5432/kingdom"
    settings = Settings.from_environ({"KINGDOM_DATABASE_URL": url})
    assert settings.database_url == url
    assert not settings.embedded


def test_a_bad_database_url_is_refused_without_showing_its_password() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_DATABASE_URL": "postgresql://u:secret@h/db"})
    assert raised.value.name == "KINGDOM_DATABASE_URL"
    assert "secret" not in str(raised.value)
    assert "async driver" in str(raised.value)


def test_development_needs_no_signing_key_but_production_does() -> None:
    assert Settings.from_environ({}).signing_key is None
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_ENV": "production"})
    assert raised.value.name == "KINGDOM_TOKEN_SIGNING_KEY"


def test_a_short_signing_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_TOKEN_SIGNING_KEY": "too-short-secret"})
    assert "too-short-secret" not in str(raised.value)


def test_token_and_server_settings_are_parsed() -> None:
    settings = Settings.from_environ(
        {
            "KINGDOM_ENV": "production",
            "KINGDOM_TOKEN_SIGNING_KEY": "k" * 32,
            "KINGDOM_WORKERS": "4",
            "KINGDOM_TOKEN_LIFETIME": "600",
            "KINGDOM_CORS_ORIGINS": "https://app.example.org, http://localhost:3000/",
        }
    )
    assert settings.production
    assert (settings.workers, settings.token_lifetime_seconds) == (4, 600)
    assert settings.cors_origins == ("https://app.example.org", "http://localhost:3000")
    assert "k" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KINGDOM_ENV", "staging"),
        ("KINGDOM_WORKERS", "0"),
        ("KINGDOM_TOKEN_LIFETIME", "5"),
        ("KINGDOM_TOKEN_ISSUER", "two words"),
        ("KINGDOM_CORS_ORIGINS", "ftp://example.org"),
        ("KINGDOM_ADMIN_PASSWORD", "short"),
    ],
)
def test_each_setting_names_itself_when_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({name: value})
    assert raised.value.name == name


def test_no_proxy_is_trusted_unless_named() -> None:
    assert Settings.from_environ({}).trusted_proxies == ()
    settings = Settings.from_environ({"KINGDOM_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"})
    assert settings.trusted_proxies == ("10.0.0.1", "192.168.0.0/16")


@pytest.mark.parametrize("value", ["*", "proxy.local", "10.0.0.1,nope"])
def test_trusted_proxies_must_be_addresses_or_networks(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_TRUSTED_PROXIES": value})
    assert raised.value.name == "KINGDOM_TRUSTED_PROXIES"
