"""Public JSON API for citizens, the mini-program and the field apps."""
