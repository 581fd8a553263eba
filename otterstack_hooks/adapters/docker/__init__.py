"""The Docker Engine API: container state, logs, images, networks, and the drain."""
