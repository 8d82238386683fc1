"""The AI platforms a top-up can credit: one list for wire models, policies and the dashboard."""

from typing import Literal

__all__ = ["PLATFORMS", "Platform"]

Platform = Literal["claude", "chatgpt", "gemini"]
PLATFORMS: tuple[Platform, ...] = ("claude", "chatgpt", "gemini")
