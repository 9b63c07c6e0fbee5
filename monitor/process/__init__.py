"""The running process: bootstrap (config → runtime), the daemon's jobs, its HTTP listener, rule
reloads and its heartbeat in the store."""
