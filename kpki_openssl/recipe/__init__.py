"""Recipe: YAML data loaded into frozen dataclasses, its variables, its template language and value
checks.
"""
