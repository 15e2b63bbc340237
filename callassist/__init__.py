"""CallAssist: offline speech recognition, caller mood and agent help for phone calls."""
__version__ = "0.1.0"
