"""The trigger route `u/<path>`: resolve, load the script, call the sandbox, shape the response."""
