"""Publicity layouts (data beside the contracts)."""
