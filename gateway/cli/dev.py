"""``aitopup dev``: development stand-ins of the upstreams, to try fulfilment locally."""

import argparse

__all__ = ["serve"]


def serve(args: argparse.Namespace) -> int:
    from ..standins.command import serve as serve_standin

    return serve_standin(args.dev_command, args.host, args.port)
