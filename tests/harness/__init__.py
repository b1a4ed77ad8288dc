"""Shared test harnesses: `layers` (Keras layer and model checks), `scripts` (entry scripts run in process, their
one-line errors, other processes), `classifier_exports` (a fine-tuned tiny classifier and its SavedModels),
`classifier_records` (classifier features and records)."""
