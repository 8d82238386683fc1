"""Agent spend controls: a policy on every key, and the checks every send goes through."""
