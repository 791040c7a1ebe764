"""Speech: offline and streaming transcription (Whisper or CTC), VAD, audio sources."""
