"""Vision: camera-frame classification on ONNX Runtime (EfficientNet-Lite, ResNet, MobileNet bundles).

Import the public names from the package root::

    from edge_sdk import CameraSource, FrameClassifier, FrameClassifierOptions, run_camera
"""
