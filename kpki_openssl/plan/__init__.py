"""Plan: recipe -> typed steps, each an exact argv or a file's full text. Pure: no I/O, no clock."""
