"""Text conversations with an agent: SMS threads and website chat share this logic."""
