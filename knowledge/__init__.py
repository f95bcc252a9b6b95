"""The website knowledge base: a polite crawler, clean text in chunks, full-text retrieval for every channel."""
