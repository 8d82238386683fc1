"""The Model Context Protocol door: the top-up routes as MCP tools, over streamable HTTP at
``/mcp`` (``http.McpHttp``, in the gateway's process) and over stdio (``aitopup mcp``,
``stdio.serve``). Both build one server (``server.build_server``) whose tools call the same
services and ``operations.perform`` as the REST routes, and answer with the same envelope. The
SDK is imported where it is first used (``door``, ``server``, ``stdio``), not with this package:
the gateway starts without it and loads it on its first request to ``/mcp``. Nor does the package
import either door: ``aitopup mcp`` loads stdio's alone."""
