"""Call recordings: both sides of a call as the caller heard it, in a stereo WAV file."""
