"""Traefik's labels, its rule language and the routing plan of a release (pure)."""
