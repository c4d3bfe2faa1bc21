"""Message templates, one folder per language with the same keys in each."""
