"""Speech-to-text providers behind one session interface (`media.stt.base`)."""
