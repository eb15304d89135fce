"""artifactctl: the command-line adapter over functions.artifacts (see cli.py for exit codes)."""
