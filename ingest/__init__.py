"""Turns job-board exports and article folders into a career-assistant store."""

from __future__ import annotations
