"""Configuration: defaults < omnicore.toml < OMNICORE_* environment < code."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnicore import Commerce, InvalidInput
from omnicore.config import Config, load_config

TOML = """
[database]
url = "sqlite+aiosqlite:///from-file.db"
pool_size = 3

[outbox]
max_attempts = 4
base_delay_seconds = 0.5

[plugins]
block = ["noisy"]

[plugins.testplugin]
greeting = "hallo"
retries = 1

[stock]
default_safety_stock = 2
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "omnicore.toml"
    path.write_text(TOML)
    return path


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config == Config()
    assert config.database.url is None
    assert config.plugins.allow is None


def test_file_values(toml_file: Path) -> None:
    config = load_config(path=toml_file, environ={})
    assert config.database.url == "sqlite+aiosqlite:///from-file.db"
    assert config.database.pool_size == 3
    assert config.outbox.max_attempts == 4
    assert config.outbox.base_delay_seconds == 0.5
    assert config.outbox.batch_size == 200  # default kept
    assert config.plugins.block == ["noisy"]
    assert config.plugins.sections == {"testplugin": {"greeting": "hallo", "retries": 1}}
    assert config.extra == {"stock": {"default_safety_stock": 2}}


def test_env_beats_file_and_code_beats_env(toml_file: Path) -> None:
    environ = {
        "OMNICORE_CONFIG": str(toml_file),
        "OMNICORE_DATABASE_URL": "postgresql://env-host/shop",
        "OMNICORE_PLUGINS__TESTPLUGIN__RETRIES": "7",
        "OMNICORE_PLUGINS__STRIPE__SECRET_KEY": "sk_test_123",
    }
    config = load_config(environ=environ)
    assert config.database.url == "postgresql://env-host/shop"
    assert config.database.pool_size == 3  # untouched keys stay from the file
    assert config.plugins.sections["testplugin"] == {"greeting": "hallo", "retries": "7"}
    assert config.plugins.sections["stripe"] == {"secret_key": "sk_test_123"}

    config = load_config(
        {"database": {"url": "sqlite+aiosqlite:///code.db"},
         "plugins": {"testplugin": {"greeting": "hola"}}},
        environ=environ,
    )
    assert config.database.url == "sqlite+aiosqlite:///code.db"
    assert config.plugins.sections["testplugin"] == {"greeting": "hola", "retries": "7"}


def test_default_file_is_read_from_the_working_directory(
    toml_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(toml_file.parent)
    assert load_config(environ={}).outbox.max_attempts == 4


def test_config_object_is_taken_as_is(toml_file: Path) -> None:
    given = Config()
    assert load_config(given, path=toml_file, environ={}) is given


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        load_config(environ={"OMNICORE_CONFIG": str(tmp_path / "nope.toml")})
    assert info.value.field == "config"
    assert "nope.toml" in info.value.message
    with pytest.raises(InvalidInput):
        load_config(path=tmp_path / "nope.toml", environ={})


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[database]\nurl = "unterminated\n')
    with pytest.raises(InvalidInput) as info:
        load_config(path=path, environ={})
    assert info.value.field == "config"
    assert str(path) in info.value.message
    assert "line 2" in info.value.message


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[outbox]\nmax_attempts = \"many\"\n", "outbox.max_attempts"),
        ("[outbox]\nmax_attemps = 3\n", "outbox.max_attemps"),
        ("[database]\nauto_migrate = \"perhaps\"\n", "database.auto_migrate"),
        ("[plugins]\nallow = \"testplugin\"\n", "plugins.allow"),
        ("[stok]\nlow_threshold = 3\n", "stok"),
        ("[outbox]\nbatch_size = 1.5\n", "outbox.batch_size"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, field: str) -> None:
    path = tmp_path / "omnicore.toml"
    path.write_text(toml)
    with pytest.raises(InvalidInput) as info:
        load_config(path=path, environ={})
    assert info.value.field == field, info.value.message


async def test_commerce_reads_file_and_env(
    toml_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("OMNICORE_CONFIG", str(toml_file))
    monkeypatch.setenv("OMNICORE_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setenv("OMNICORE_PLUGINS__TESTPLUGIN__RETRIES", "9")
    async with Commerce.open(dispatch=False) as commerce:
        assert commerce.db.url.database == str(db)
        assert commerce.config.outbox.max_attempts == 4
        settings = commerce.plugins.settings["testplugin"]
        assert (settings.greeting, settings.retries) == ("hallo", 9)
    assert db.is_file()
    assert not (tmp_path / "from-file.db").exists()
