"""Running Claybridge: process presence, alerts, and the status report."""
