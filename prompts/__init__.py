"""Prompt and answer templates, as text files loaded by name (see assistant/templates.py)."""
