"""The domain core: people, applications, assignments, runs, checkpoints and the audit trail."""
