"""`python -m bot` is the same as the `restructure-bot` command."""

from bot.cli import main

main()
