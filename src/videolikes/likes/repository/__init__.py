"""SQL for like rows and their counters, on a connection it is given.

status_reads: whether clients like videos. batch_writes: PostgreSQL's batches of writes.
single_writes: SQLite's one-transaction-per-write.
"""
