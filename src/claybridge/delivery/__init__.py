"""Outbound delivery: the queue's worker, retry schedule, HTTP sending, SSRF guard,
rate limits and the circuit breaker."""
