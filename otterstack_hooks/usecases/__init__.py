"""One orchestrator per use case (deploy, rollback, retire, ...), reading top to bottom as the
steps the pusher sees; they act only through the ports in core/ports.py."""
