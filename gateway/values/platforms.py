"""The AI platforms a top-up can credit: one list for wire models, policies and the dashboard,
and one name for each as a reader sees it, in every language and on every page and e-mail."""

from typing import Literal

__all__ = ["NAMES", "PLATFORMS", "Platform", "name_of"]

Platform = Literal["claude", "chatgpt", "gemini"]
PLATFORMS: tuple[Platform, ...] = ("claude", "chatgpt", "gemini")
# As their makers write them; the wire keeps the lower-case identifiers above.
NAMES: dict[str, str] = {"claude": "Claude", "chatgpt": "ChatGPT", "gemini": "Gemini"}


def name_of(platform: object) -> str:
    """``platform``'s display name; anything else (a platform since retired) as it is."""
    text = "" if platform is None else str(platform)
    return NAMES.get(text, text)
