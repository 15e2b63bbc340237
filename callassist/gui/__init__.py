"""The PySide6 side panel. Everything Qt lives in this package; the core never imports it."""
