"""Developer tools that run on a workstation or in CI, never in AWS (offline preview, ...)."""
