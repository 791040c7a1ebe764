"""Training data for the students: corpora read from disk, fetchers of openly licensed text, speech and photographs, and teacher pseudo-labels."""
