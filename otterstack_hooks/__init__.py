"""OtterStack: push-to-deploy for Docker Compose apps with zero-downtime Traefik switches."""

__version__ = "0.1.0"
