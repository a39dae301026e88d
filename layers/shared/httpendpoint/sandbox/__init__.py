"""The sandbox function: a warm zygote forks one clean child per request; nothing of it survives."""
