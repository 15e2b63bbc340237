"""One file per change of the call library's format."""
