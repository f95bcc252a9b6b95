"""Round trips to the call's providers that tell an operator, before a caller does, whether each one works."""
