"""The pipeline's domain core: metadata transitions, validation, promotion, rollback planning, the
finalizer and the dispatcher. Lambda handlers in `functions/handlers` are thin adapters over it."""
