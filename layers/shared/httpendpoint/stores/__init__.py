"""One module per AWS resource (endpoints table, script bucket, tokens table); nothing else touches them."""
