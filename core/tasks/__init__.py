"""Tasks own batching, loss, metrics and prediction; see base.Task."""
