"""The shared training infrastructure: the process layout (``engine``) and the resumable training loop (``loop``)."""
