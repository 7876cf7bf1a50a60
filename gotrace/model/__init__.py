"""gotrace's model: the values both the capture side and the analyzers work on."""
