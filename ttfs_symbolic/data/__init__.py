"""The user's data: image folders, tensors, checkpoints, input checks and an ONNX reader."""
