"""Third-party apps and the consents people give them: the rules of the OAuth authorization
server (``registry``: apps; ``grants``: consents, codes, tokens; ``pending``: a request waiting
for the person). The protocol's doors are ``gateway.oauth`` and the dashboard's consent page."""
