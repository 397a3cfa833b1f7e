"""Prompt caches that survive a swap: which slots to save and restore (policy), the files (store), the hooks."""
