"""Helpers shared by unit and integration tests."""
