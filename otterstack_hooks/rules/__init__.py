"""Decisions (pure): what a push means, what a release keeps, whether it is healthy, the exact
command lines; by subject in compose/, traefik/ and swarm/. Nothing here touches the world."""
