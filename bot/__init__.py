"""The runtime: configuration, storage, Telegram and terminal adapters, and the CLI."""
