"""Test support: local servers, seeded data, independent archive readers and drivers."""
