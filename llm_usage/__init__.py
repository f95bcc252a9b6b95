"""What the model was asked and what it cost: a row per LLM attempt, per-agent token caps, prices per model.

A sibling of `knowledge`, above the building blocks: it reads the provider prices kept by
`billing` and the usage the `media` LLM clients report, and the channels above it reserve and
settle tokens through it.
"""
