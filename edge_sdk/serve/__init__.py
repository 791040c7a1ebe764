"""Serving the SDK to the home's protocols: ``edge-sdk serve`` speaks Wyoming (Home Assistant's voice pipeline).

Modules: :mod:`~edge_sdk.serve.server` (``ServeOptions``, ``WyomingServer``), :mod:`~edge_sdk.serve.handler` (one
connection), :mod:`~edge_sdk.serve.session` (one audio stream: ASR and wake word, run off the event loop),
:mod:`~edge_sdk.serve.wake` (openWakeWord models from ``pyopen-wakeword``), :mod:`~edge_sdk.serve.metrics`
(Prometheus and ``/healthz``), :mod:`~edge_sdk.serve.mqtt` (states and Home Assistant discovery),
:mod:`~edge_sdk.serve.cameras` (camera pipelines), :mod:`~edge_sdk.serve.config` (``serve.toml``),
:mod:`~edge_sdk.serve.systemd` (sd_notify). Needs ``pip install 'edge-sdk-ondevice[serve]'``;
nothing here is imported by the runtime.
"""
