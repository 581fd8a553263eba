"""The Docker Compose v2 CLI, and the Runtime port on one Docker Engine over it."""
