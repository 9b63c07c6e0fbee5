"""Storage: the schedule, the seen keys and the alert outbox. See `base.Store`."""
