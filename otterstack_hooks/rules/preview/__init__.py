"""Previews of a branch (issue 25): its slug, its names, its hosts, when it goes (pure)."""
