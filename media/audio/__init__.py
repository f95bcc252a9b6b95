"""Telephone audio primitives: G.711 mu-law coding and streaming resampling."""
