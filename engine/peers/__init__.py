"""Peer engines on other boxes: their state as polled, name resolution, and the relay to them."""
