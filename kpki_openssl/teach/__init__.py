"""Teach: the walkthrough, explain, the handout, diagram, and the comparison with the document."""
