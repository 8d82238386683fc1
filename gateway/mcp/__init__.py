"""The Model Context Protocol door: the top-up routes as MCP tools, over streamable HTTP at
``/mcp`` (``http.McpHttp``, in the gateway's process) and over stdio (``aitopup mcp``,
``stdio.serve``). Both build one server (``server.build_server``) whose tools call the same
services and ``operations.perform`` as the REST routes, and answer with the same envelope."""

from .http import PATH, McpHttp
from .server import CODES_URI, GUIDE_URI, build_server

__all__ = ["CODES_URI", "GUIDE_URI", "PATH", "McpHttp", "build_server"]
