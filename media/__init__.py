"""Media building blocks: telephone audio, Twilio Media Streams, and STT/LLM/TTS providers."""
