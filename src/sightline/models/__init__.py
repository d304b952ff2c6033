"""Models: the Model interface, adapters (torchvision, ultralytics), checkpoints, the zoo, the demo."""
