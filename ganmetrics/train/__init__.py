"""The compact GAN trainer: data (data.py), models (models.py), objectives (losses.py), the loop (loop.py),
mode statistics (modes.py), checkpoints (checkpoint.py) and figures (plots.py)."""

from ganmetrics.train.loop import TrainConfig, TrainingDiverged, load_config, read_records, train

__all__ = ["TrainConfig", "TrainingDiverged", "load_config", "read_records", "train"]
