"""Feedback labels: people say which items a rule should (not) have caught; precision and recall
are measured against them. `labels` (targets, the label in force, JSON lines) and `score` are pure;
`record` resolves a target through the store."""
