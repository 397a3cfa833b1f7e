"""llama-server: building it, rendering its preset, starting and supervising it, and talking to it."""
