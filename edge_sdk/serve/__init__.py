"""Serving the SDK to the home's protocols: ``edge-sdk serve`` speaks Wyoming (Home Assistant's voice pipeline).

Modules: :mod:`~edge_sdk.serve.server` (``ServeOptions``, ``WyomingServer``), :mod:`~edge_sdk.serve.handler` (one
connection), :mod:`~edge_sdk.serve.session` (one audio stream: ASR and wake word, run off the event loop),
:mod:`~edge_sdk.serve.wake` (openWakeWord models from ``pyopen-wakeword``). Needs ``pip install 'edge-sdk-ondevice[serve]'``;
nothing here is imported by the runtime.
"""
