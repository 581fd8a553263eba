"""A release as a Swarm stack, and Swarm's tasks as the snapshots the health gate judges (pure)."""
