"""Attacks on the server, one module per class of abuse, each over loopback."""
