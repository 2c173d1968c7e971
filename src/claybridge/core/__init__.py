"""Pure values and rules that every layer may use: coercion of Clay's cells, request
signatures, the SSRF guard, retry schedules and rate-limit arithmetic, template
rendering, and the validated shapes users write (destinations, Clay options, workflows).
Nothing here touches the database or imports a service."""
