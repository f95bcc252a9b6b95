"""Phone numbers: the carrier interface, purchase and release, monthly rent."""
