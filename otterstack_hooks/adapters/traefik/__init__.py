"""Traefik: finding it, its API, proving requests through it, the Router port on its docker
provider, fences and `traefik up`."""
