"""Configuration: one typed tree; defaults < omnicore.toml < OMNICORE_* environment < code."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest

from omnicore import Commerce, InvalidInput
from omnicore.config import (
    CAPTURE_POLICIES,
    Config,
    DeliveryMethodConfig,
    PluginsConfig,
    load_config,
)
from omnicore.orders import CapturePolicy
from omnicore.stock import DEFAULT_LOW_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]

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
low_threshold = 2

[gateway]
max_cost = 800
fast_execution = false

[delivery.methods.express]
enabled = false
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
    assert config.database.prepared_reads and config.gateway.fast_execution
    assert config.plugins.allow is None
    assert (config.stock.low_threshold, config.customers.default_region) == (5, "FR")


def test_file_values(toml_file: Path) -> None:
    config = load_config(path=toml_file, environ={})
    assert config.database.url == "sqlite+aiosqlite:///from-file.db"
    assert config.database.pool_size == 3
    assert config.outbox.max_attempts == 4
    assert config.outbox.base_delay_seconds == 0.5
    assert config.outbox.batch_size == 200  # default kept
    assert config.plugins.block == ["noisy"]
    assert config.plugins.sections == {"testplugin": {"greeting": "hallo", "retries": 1}}
    assert config.stock.low_threshold == 2
    assert (config.gateway.max_cost, config.gateway.max_depth) == (800, 12)
    assert config.gateway.fast_execution is False
    assert config.delivery.methods == {"express": DeliveryMethodConfig(enabled=False)}


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
         "plugins": {"testplugin": {"greeting": "hola"}},
         "stock": {"low_threshold": 0}},
        environ=environ,
    )
    assert config.database.url == "sqlite+aiosqlite:///code.db"
    assert config.plugins.sections["testplugin"] == {"greeting": "hola", "retries": "7"}
    assert config.stock.low_threshold == 0
    assert config.gateway.max_cost == 800  # the file's, under the code's other sections


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
        ("[outbox]\nbatch_size = 1.5\n", "outbox.batch_size"),
        ("[outbox]\nsweep_interval_seconds = 0\n", "outbox.sweep_interval_seconds"),
        ("[outbox]\nlease_seconds = true\n", "outbox.lease_seconds"),
        ("[database]\nauto_migrate = \"perhaps\"\n", "database.auto_migrate"),
        ("[database]\npool_size = 0\n", "database.pool_size"),
        ("[database]\nprepared_reads = \"no\"\n", "database.prepared_reads"),
        ("[database]\nurl = 5\n", "database.url"),
        ("[plugins]\nallow = \"testplugin\"\n", "plugins.allow"),
        ("[plugins]\nallowed = [\"testplugin\"]\n", "plugins.allowed"),
        ("[stok]\nlow_threshold = 3\n", "stok"),
        ("stock = 5\n", "stock"),
        ("[stock]\nlow_threshold = true\n", "stock.low_threshold"),
        ("[stock]\nlow_threshold = \"five\"\n", "stock.low_threshold"),
        ("[stock]\nlow_threshold = \"5\"\n", "stock.low_threshold"),
        ("[stock]\nlow_threshold = -1\n", "stock.low_threshold"),
        ("[stock]\nlow_threshold = 2.5\n", "stock.low_threshold"),
        ("[stock]\ndefault_safety_stock = 2\n", "stock.default_safety_stock"),
        ("[customers]\ndefault_region = \"Frankreich\"\n", "customers.default_region"),
        ("[customers]\ndefault_regoin = \"GB\"\n", "customers.default_regoin"),
        ("[carts]\nmax_quantity_per_line = 0\n", "carts.max_quantity_per_line"),
        ("[carts]\nabandon_after_minutes = true\n", "carts.abandon_after_minutes"),
        ("[checkout]\nlease_seconds = 1.5\n", "checkout.lease_seconds"),
        ("[orders]\nnumber_prefix = \"TOO-LONG-PREFIX\"\n", "orders.number_prefix"),
        ("[orders]\nnumber_prefix = 7\n", "orders.number_prefix"),
        ("[orders]\ncapture_policy = \"later\"\n", "orders.capture_policy"),
        ("[sourcing]\ntransfer_lead_hours = -1\n", "sourcing.transfer_lead_hours"),
        ("[fulfilment]\nexpired_pickup_payment = \"keep\"\n",
         "fulfilment.expired_pickup_payment"),
        ("[fulfilment]\npickup_days = 0\n", "fulfilment.pickup_days"),
        ("[delivery]\nquote_timeout_seconds = 0\n", "delivery.quote_timeout_seconds"),
        ("[delivery.methods.eco]\nkind = \"ship\"\nrates = {}\n", "delivery.methods.eco.name"),
        ("[delivery.methods.eco]\nenabled = false\ncolour = \"green\"\n",
         "delivery.methods.eco.colour"),
        ("[delivery]\nmethods = [\"eco\"]\n", "delivery.methods"),
        ("[gateway]\nmax_cost = 0\n", "gateway.max_cost"),
        ("[gateway]\nmax_cost = true\n", "gateway.max_cost"),
        ("[gateway]\nintrospection = \"no\"\n", "gateway.introspection"),
        ("[gateway]\nfast_execution = 1\n", "gateway.fast_execution"),
        ("[gateway]\nwebsocket_max_operations = 0\n", "gateway.websocket_max_operations"),
        ("[gateway]\nwebsocket_init_seconds = \"soon\"\n", "gateway.websocket_init_seconds"),
        ("[gateway]\norder_status_poll_seconds = true\n", "gateway.order_status_poll_seconds"),
        ("[gateway]\nsubscription_max_seconds = nan\n", "gateway.subscription_max_seconds"),
        ("[gateway]\nlogin_window_minutes = -5\n", "gateway.login_window_minutes"),
        # documented under [database] once, where it never was a key
        ("[database]\nwebsocket_max_operations = 20\n", "database.websocket_max_operations"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, field: str) -> None:
    path = tmp_path / "omnicore.toml"
    path.write_text(toml)
    with pytest.raises(InvalidInput) as info:
        load_config(path=path, environ={})
    assert info.value.field == field, info.value.message
    assert [p.field for p in info.value.problems] == [field]
    assert str(info.value) == f"{field}: {info.value.message}"  # the path is said once
    assert field not in info.value.message


def test_an_unknown_key_is_told_the_keys_of_its_section() -> None:
    with pytest.raises(InvalidInput) as info:
        load_config({"gateway": {"max_cots": 10}}, environ={})
    assert info.value.field == "gateway.max_cots"
    assert info.value.message.startswith("is not a key of [gateway] (known: max_depth, ")
    assert "max_cost" in info.value.message
    with pytest.raises(InvalidInput) as section:
        load_config({"loyalty": {}}, environ={})
    assert section.value.field == "loyalty"
    assert "is not a configuration section (known: database, outbox, stock" in str(section.value)


def test_every_problem_is_listed() -> None:
    with pytest.raises(InvalidInput) as info:
        load_config({"stock": {"low_treshold": 1}, "carts": {"max_lines": 3},
                     "plugins": {"stripe": "sk_live"}}, environ={})
    assert [p.field for p in info.value.problems] == [
        "stock.low_treshold", "carts.max_lines", "plugins.stripe"]
    assert info.value.field == "stock.low_treshold"


def test_text_is_still_accepted_where_the_environment_gives_it() -> None:
    """Plugin tables stay free-form: their settings classes convert ``"7"`` to ``7``."""
    config = load_config(environ={"OMNICORE_PLUGINS__TESTPLUGIN__RETRIES": "7"})
    assert config.plugins.sections["testplugin"]["retries"] == "7"


def test_values_are_normalised() -> None:
    config = load_config({"customers": {"default_region": "gb"},
                          "outbox": {"base_delay_seconds": 2}}, environ={})
    assert config.customers.default_region == "GB"
    assert config.outbox.base_delay_seconds == 2


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
        # each service reads its section of the tree
        assert commerce.stock.low_threshold == 2
        assert commerce.db.prepared_reads is True
        assert "express" not in {m.code for m in await commerce.delivery.methods()}
    assert db.is_file()
    assert not (tmp_path / "from-file.db").exists()


async def test_commerce_open_refuses_a_bad_value_before_touching_the_database(
    tmp_path: Path,
) -> None:
    """``[stock] low_threshold`` was read with a bare ``int(...)``: ``"x"`` raised a
    ValueError and ``true`` passed as 1."""
    for value in ("x", True):
        with pytest.raises(InvalidInput) as info:
            await Commerce.open(tmp_path / "shop.db", dispatch=False, load_entry_points=False,
                                config={"stock": {"low_threshold": value}})
        assert info.value.field == "stock.low_threshold"
    assert not (tmp_path / "shop.db").exists()


async def test_the_services_read_their_sections(tmp_path: Path) -> None:
    config = {
        "database": {"prepared_reads": False},
        "stock": {"low_threshold": 0},
        "customers": {"default_region": "be"},
        "carts": {"max_quantity_per_line": 4, "abandon_after_minutes": 90},
        "checkout": {"lease_seconds": 60},
        "orders": {"number_prefix": "WEB-", "capture_policy": "immediate"},
        "sourcing": {"transfer_lead_hours": 24},
        "fulfilment": {"pickup_days": 3, "expired_pickup_payment": "refund"},
        "delivery": {"quote_timeout_seconds": 2.5},
        "gateway": {"customer_token_hours": 2, "login_max_attempts": 3},
    }
    async with Commerce.open(f"sqlite+aiosqlite:///{tmp_path}/shop.db", dispatch=False,
                             load_entry_points=False, config=config) as commerce:
        assert commerce.db.prepared_reads is False
        assert commerce.stock.low_threshold == 0
        assert commerce.customers.default_region == "BE"
        assert commerce.carts.settings.max_quantity_per_line == 4
        assert commerce.carts.settings.abandon_after.total_seconds() == 90 * 60
        settings = commerce.order_settings
        assert (settings.checkout_lease_seconds, settings.number_prefix,
                settings.capture_policy, settings.transfer_lead_hours, settings.pickup_days,
                settings.expired_pickup_payment) == (
                    60, "WEB-", CapturePolicy.IMMEDIATE, 24, 3, "refund")
        assert commerce.auth.token_ttl.total_seconds() == 2 * 3600
        assert commerce.auth.login_max_attempts == 3


def test_the_choices_are_the_domains() -> None:
    assert set(CAPTURE_POLICIES) == {policy.value for policy in CapturePolicy}
    assert Config().stock.low_threshold == DEFAULT_LOW_THRESHOLD


# -- docs/configuration.md documents every key under its section, with its default ----------

SECTION = re.compile(r"^### `\[([a-z_.<>]+)\]`\s*$", re.MULTILINE)
ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \|", re.MULTILINE)


def _documented() -> dict[str, dict[str, str]]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    headings = list(SECTION.finditer(text))
    found = {}
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        body = text[heading.end(): following.start() if following else len(text)]
        body = body.split("\n## ", 1)[0]
        found[heading.group(1)] = {row.group(1): row.group(2).strip()
                                   for row in ROW.finditer(body)}
    return found


def _sections() -> dict[str, type]:
    """``section name -> attrs class``, the tables below the sections included."""
    found: dict[str, type] = {}
    for field in attrs.fields(Config):
        found[field.name] = typing.get_type_hints(Config)[field.name]
    found["delivery.methods.<code>"] = DeliveryMethodConfig
    return found


def _keys(cls: type) -> list[str]:
    skip = {"sections"} if cls is PluginsConfig else set()
    return [f.name for f in attrs.fields(cls) if f.name not in skip]


def test_every_key_is_documented_under_its_section() -> None:
    documented = _documented()
    sections = _sections()
    assert set(sections) <= set(documented), set(sections) - set(documented)
    for name, cls in sections.items():
        assert list(documented[name]) == _keys(cls), f"[{name}] in docs/configuration.md"


def test_the_documented_defaults_are_the_defaults() -> None:
    """A default written as one TOML value (`` `25` ``, `` `"void"` ``) is the code's."""
    documented = _documented()
    checked = 0
    for name, cls in _sections().items():
        for field in attrs.fields(cls):
            cell = documented[name].get(field.name, "")
            literal = re.fullmatch(r"`([^`]+)`", cell)
            if literal is None:
                continue
            written = tomllib.loads(f"value = {literal.group(1)}")["value"]
            default: Any = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            assert written == default, f"[{name}] {field.name}: documented {cell}"
            checked += 1
    assert checked > 30
