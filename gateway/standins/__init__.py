"""Development stand-ins of the upstreams a merchant fulfils through, speaking their documented
routes and shapes on this machine: New API (``newapi``) and OpenRouter's key management API
(``openrouter``). ``aitopup dev newapi`` and ``aitopup dev openrouter`` serve them
(``command``), so a send's whole journey runs with no outside service; the tests serve the
same ones. State is in memory and goes with the process."""
