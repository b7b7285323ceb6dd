"""Configurator: the catalogue format, and compiled propagation, explanation, counting and pricing."""
