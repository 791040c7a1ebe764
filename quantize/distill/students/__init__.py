"""The students: each module builds one student from its teacher and trains it (text, vision, speech, CTC)."""
