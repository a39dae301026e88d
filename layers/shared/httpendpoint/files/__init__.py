"""The files API (the drive): write, read, version, list and delete files; a write re-pins the endpoints."""
