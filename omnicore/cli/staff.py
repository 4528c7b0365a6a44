"""``omnicore staff …``: staff API keys for the admin API, from the command line.

    omnicore staff create-key "Ops" --permission MANAGE_STAFF --permission MANAGE_CATALOG
    omnicore staff create-key "Rivoli tablet" -p MANAGE_STOCK -p HANDOFF_CARTS -l paris-1

The admin API issues keys too (``staffKeyCreate``), but it needs a key with
``MANAGE_STAFF`` to begin with: this command issues that first one. The plain key
is printed once; omnicore stores only its SHA-256.

Registered on ``omnicore.cli.main`` when ``omnicore.cli`` is imported.
"""

from __future__ import annotations

import click

from omnicore.auth import IssuedKey, Permission
from omnicore.cli.main import CliContext, main, run
from omnicore.errors import NotFound

__all__ = ["staff_group"]

#: as the docs and the admin API write them
PERMISSIONS = [p.value.upper() for p in Permission]


def _permissions(values: tuple[str, ...]) -> tuple[str, ...]:
    """Upper-cased; an unknown one is a usage error listing them as the docs write them."""
    for value in values:
        if value.upper() not in PERMISSIONS:
            raise click.BadParameter(
                f"{value!r} is not a permission: {', '.join(PERMISSIONS)}")
    return tuple(value.upper() for value in values)


@main.group("staff")
def staff_group() -> None:
    """Staff API keys for the admin API (/admin/graphql)."""


@staff_group.command("create-key")
@click.argument("name")
@click.option("--permission", "-p", "permissions", multiple=True, required=True,
              callback=lambda ctx, param, values: _permissions(values), metavar="PERMISSION",
              help=f"A permission of the key (repeat for several): {', '.join(PERMISSIONS)}.")
@click.option("--location", "-l", "locations", multiple=True, metavar="CODE",
              help="Limit the key to this location (repeat for several); default: every "
                   "location.")
@click.pass_obj
def create_key(cli: CliContext, name: str, permissions: tuple[str, ...],
               locations: tuple[str, ...]) -> None:
    """Issue a staff key named NAME and print it — once: it cannot be shown again.

    Send it as `Authorization: Bearer <key>` to /admin/graphql.
    """

    async def go() -> IssuedKey:
        async with cli.open(dispatch=False) as commerce:
            for code in locations:
                try:
                    await commerce.locations.get(code)
                except NotFound:
                    raise NotFound(f"no location {code!r}", field="--location") from None
            return await commerce.auth.create_staff_key(
                name, [p.upper() for p in permissions], locations=locations or None)

    issued = run(go())
    scope = ", ".join(sorted(issued.locations)) if issued.locations else "every location"
    click.echo(f"staff key {issued.id} ({issued.name}): "
               f"{', '.join(sorted(p.value for p in issued.permissions))}; {scope}", err=True)
    click.echo("the key is shown this once; store it in a secret manager:", err=True)
    click.echo(issued.key)
