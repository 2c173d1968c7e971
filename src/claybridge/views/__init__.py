"""What the admin API, the CLI and the console show of each record: JSON shaped from the
typed rows the records layer returns (one function per record kind, used by all three)."""
