"""How steps are placed on machines in production: executors, and the op tags that ask for a GPU."""
