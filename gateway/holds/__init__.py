"""The kinds of hold, above every kind: their registry, a line a kind (``registry``), which
whatever meets holds asks (the dashboard's inbox, the link's page, Telegram, the kill switch,
the expiry), and the one door every one-time link's decision goes through (``doors``), its kind
of hold's own. The interface a kind implements and the links are below the kinds
(``approvals``)."""
