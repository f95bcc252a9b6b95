"""Chat-completion providers behind one streaming interface (`media.llm.base`)."""
