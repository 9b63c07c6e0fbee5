"""Feeds: fetching, parsing and identity of RSS, Atom and JSON Feed documents."""
