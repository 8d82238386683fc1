"""The roles a member may have, by name: what the command line offers without loading the
rules of each (``roles``), which read these."""

from typing import Final, Literal, get_args

__all__ = ["OWNER", "ROLES", "Role"]

Role = Literal["owner", "developer", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
OWNER: Final[Role] = "owner"
