"""Qt item models that page data in lazily from worker threads."""
