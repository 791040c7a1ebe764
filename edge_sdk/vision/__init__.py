"""Vision: camera-frame classification on ONNX Runtime (EfficientNet-Lite, ResNet, MobileNet bundles).

Import the task classes from their modules::

    from edge_sdk.vision.classifier import FrameClassifier, FrameClassifierOptions
    from edge_sdk.vision.camera import CameraSource
"""
