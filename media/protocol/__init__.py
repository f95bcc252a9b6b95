"""Wire formats spoken with outside media peers (Twilio Media Streams)."""
