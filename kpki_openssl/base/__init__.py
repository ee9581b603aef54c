"""Foundation: errors, one-line messages, the console, safe file and YAML I/O, the one module that
starts processes.
"""
