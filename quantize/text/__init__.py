"""Text model preparation: sentence encoder (extractive) and seq2seq (abstractive) bundles."""
