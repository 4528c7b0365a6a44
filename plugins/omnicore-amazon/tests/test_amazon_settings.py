"""``[plugins.amazon]``: validated at start-up, secrets never echoed."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CLIENT_SECRET, REFRESH_TOKEN, SETTINGS
from omnicore_amazon import AmazonPlugin

from omnicore import Commerce, InvalidInput


async def _open(db_url: str, **changes: Any) -> Commerce:
    section = {**SETTINGS, **changes}
    for key in [k for k, v in section.items() if v is None]:
        del section[key]
    return await Commerce.open(db_url, dispatch=False, load_entry_points=False,
                               plugins=[AmazonPlugin()],
                               config={"plugins": {"amazon": section}})


@pytest.mark.parametrize(("key", "value", "says"), [
    ("refresh_token", None, "required"),
    ("refresh_token", "not-a-token " + REFRESH_TOKEN[5:], "malformed"),
    ("client_secret", None, "required"),
    ("client_secret", "has space " + CLIENT_SECRET, "malformed"),
    ("client_id", "my-app", "amzn1.application-oa2-client"),
    ("seller_id", "seller 42", "merchant token"),
    ("marketplace_ids", "FR,Atlantis", "Atlantis"),
    ("marketplace_ids", ["FR", "US"], "several SP-API regions"),
    ("region", "na", "region eu"),
    ("orders_api", "2021", "2026-01-01, v0"),
    ("background", "sometimes", "events"),
    ("feed_max_messages", 30000, "25000"),
    ("families", {"tees": {"product_type": "t-shirt"}}, "product type"),
])
async def test_a_missing_or_malformed_setting_stops_start_up(
        db_url: str, key: str, value: Any, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _open(db_url, **{key: value})
    field = caught.value.field or ""
    assert field.startswith(f"plugins.amazon.{key}") or field == "plugins.amazon.region"
    assert says in str(caught.value)
    for secret in (REFRESH_TOKEN, CLIENT_SECRET, REFRESH_TOKEN[5:]):
        assert secret not in str(caught.value)


async def test_settings_from_environment_variables(db_url: str, monkeypatch: Any) -> None:
    for key, value in {"CLIENT_ID": SETTINGS["client_id"], "CLIENT_SECRET": CLIENT_SECRET,
                       "REFRESH_TOKEN": REFRESH_TOKEN, "SELLER_ID": "A2EXAMPLESELLER",
                       "MARKETPLACE_IDS": "FR, DE,A1RKKUPIHCS9HS", "SANDBOX": "true",
                       "BACKGROUND": "off"}.items():
        monkeypatch.setenv(f"OMNICORE_PLUGINS__AMAZON__{key}", value)
    plugin = AmazonPlugin()
    async with Commerce.open(db_url, dispatch=False, load_entry_points=False,
                             plugins=[plugin]):
        settings = plugin.started().settings
        assert settings.marketplace_ids == ("A13V1IB3VIYZZH", "A1PA6795UKMFR9",
                                            "A1RKKUPIHCS9HS")
        assert settings.api_region == "eu" and settings.sandbox
        assert settings.language == "fr_FR"
        assert plugin.started().client.base_url == (
            "https://sandbox.sellingpartnerapi-eu.amazon.com")
        text = repr(settings)
        assert CLIENT_SECRET not in text and REFRESH_TOKEN not in text


async def test_the_plugin_creates_its_own_tables_once(db_url: str) -> None:
    for _ in range(2):  # a second start finds them and keeps their rows
        commerce = await _open(db_url)
        plugin = commerce.plugins.pm.get_plugin("amazon")
        await plugin.started().store.put("probe", {"n": 1})
        assert await plugin.started().store.get("probe") == {"n": 1}
        await commerce.close()
