"""I/O: each sub-package talks to one outside thing (Compose, Docker, Swarm, Traefik, git, local
files and processes) and implements the ports over it."""
