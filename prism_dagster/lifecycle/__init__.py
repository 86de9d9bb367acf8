"""Keeping integrations true: status store, catch-up, failure causes, late rows, validation."""
