"""What every layer speaks: money, platforms, instants, ids, the code catalogue, the envelope,
the body rules and the settings. Nothing here imports the rest of the gateway."""
