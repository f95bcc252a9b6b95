"""Text-to-speech providers that all yield 8 kHz mu-law (`media.tts.base`)."""
