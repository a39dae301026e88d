"""What every function shares: settings from the template, errors, AWS clients, logs and metrics, limits."""
