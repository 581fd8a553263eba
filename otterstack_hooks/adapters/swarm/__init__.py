"""Docker Swarm: the Runtime and Router ports over stacks and services, and Traefik as a service."""
