"""``python -m omnicore.cli``: the ``omnicore`` command."""

from omnicore.cli import main

main()
