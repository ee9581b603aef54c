"""Recipe: YAML data loaded into frozen dataclasses, its template language and value checks."""
