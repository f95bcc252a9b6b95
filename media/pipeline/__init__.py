"""The live-call pipeline: caller audio → STT → turns → LLM → sentences → TTS → Twilio, one session per call."""
