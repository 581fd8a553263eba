"""The `otterstack` command (and the git hooks' entry point), a module per command group."""
