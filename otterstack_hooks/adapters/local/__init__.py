"""Things on this host only: SQLite state, files under the data dir, the deploy lock, bounded child
processes, progress lines, secrets, push keys, notifications and name resolution."""
