"""Source readers: one module per source family (read -> clean -> validate)."""
