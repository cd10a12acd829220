"""Tests of the sync service."""
