"""Paradex venue adapter: wire models, signing, auth, REST/WS/SBE codecs."""
