import pytest

from kingdom.entrypoints.settings import Settings, SettingsError


def test_defaults_bind_loopback_on_8000() -> None:
    assert Settings.from_environ({}) == Settings(host="127.0.0.1", port=8000)


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
