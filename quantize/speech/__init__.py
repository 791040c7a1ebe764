"""Speech model preparation: Whisper import and export, int8 with the WER gate, CTC models, the speech bundle."""
