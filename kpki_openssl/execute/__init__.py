"""Execute: run a plan into a folder: decide, stage, install, record, log."""
