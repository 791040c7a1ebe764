"""Shipping a trained student: export, side-by-side timing, and writing it as a variant or recording its refusal."""
