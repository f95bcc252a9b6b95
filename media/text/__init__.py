"""Text shaping between the LLM and speech synthesis."""
