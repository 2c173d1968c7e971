"""Actions: the units of work a source applies to an event, one module per kind."""
