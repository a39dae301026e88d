"""The management API: request and response models, the pure operations, the resolver and error mapping."""
